package docker

import "testing"

// A container that has ended is not running, even before the goroutine
// that reaped it has forgotten it: a snapshot or a new start right after
// Stop must not be refused for it.
func TestAnEndedContainerIsNotRunning(t *testing.T) {
	s := &Sandbox{}
	p := &proc{s: s, service: "db", done: make(chan struct{})}
	if err := s.track("db", p); err != nil {
		t.Fatal(err)
	}
	if s.running("db") != p {
		t.Fatal("a tracked container that has not ended is not running")
	}
	close(p.done)
	if got := s.running("db"); got != nil {
		t.Errorf("an ended container still counts as running")
	}
}
