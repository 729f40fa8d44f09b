// Package running keeps the processes an instance's services run, by
// service, and refuses new ones once the instance is closed: the
// bookkeeping the docker and kubernetes sandboxes share.
package running

import (
	"sync"

	"github.com/tandem-dev/tandem"
)

// Set is one instance's running processes. The zero Set is ready to use.
type Set[P comparable] struct {
	mu     sync.Mutex
	closed bool
	procs  map[string]P
}

// Track records p as service's process; a closed set refuses it
// (ECONFLICT, naming instance).
func (s *Set[P]) Track(instance, service string, p P) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return tandem.Errorf(tandem.ECONFLICT, "instance %s is shut down", instance)
	}
	if s.procs == nil {
		s.procs = map[string]P{}
	}
	s.procs[service] = p
	return nil
}

// Untrack forgets p, if it is still service's process.
func (s *Set[P]) Untrack(service string, p P) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procs[service] == p {
		delete(s.procs, service)
	}
}

// Get is service's process, the zero P if none runs.
func (s *Set[P]) Get(service string) P {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[service]
}

// Close marks the set closed and returns the processes still running, and
// whether this call closed it (false: it was closed before).
func (s *Set[P]) Close() ([]P, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	s.closed = true
	procs := make([]P, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	return procs, true
}

// Closed reports whether Close was called.
func (s *Set[P]) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
