//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// A command's output is gathered by tandem (outputPipe), not copied a read
// at a time: all of it still arrives, in order, stdout and stderr
// interleaved as written when they go to one writer, before Run returns,
// however much there is.
func TestOutputArrivesWholeAndInOrder(t *testing.T) {
	dir := t.TempDir()
	var out testutil.Buffer
	// 2 MB: many times a pipe's buffer, so reads fill the copy's buffer.
	script := `seq 1 300000; echo to-stderr >&2; echo last`
	err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: dir, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := 1; i <= 300000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	want.WriteString("to-stderr\nlast\n")
	if got := out.String(); got != want.String() {
		t.Errorf("got %d bytes ending %q, want %d ending %q", len(got), tail(got), want.Len(), tail(want.String()))
	}

	// Two writers: each gets its own stream.
	var o, e testutil.Buffer
	if err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo out; echo err >&2"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: dir, Stdout: &o, Stderr: &e}); err != nil {
		t.Fatal(err)
	}
	if o.String() != "out\n" || e.String() != "err\n" {
		t.Errorf("stdout %q, stderr %q", o.String(), e.String())
	}
}

// A writer that fails does not stop the command: what it cannot take is
// dropped, and the command never blocks on a full pipe.
func TestOutputWriterThatFailsDoesNotBlockTheCommand(t *testing.T) {
	err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "seq 1 300000; exit 3"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: t.TempDir(), Stdout: failingWriter{}})
	var ee *tandem.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("Run = %v, want exit status 3", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func tail(s string) string {
	if i := strings.LastIndexByte(s[:max(0, len(s)-1)], '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// A writer that got out of the shim's PID namespace (handed the pipe by a
// process inside, say) keeps the pipe open: drain gives up on it, and on
// every other pipe, instead of waiting for ever.
func TestDrainGivesUpOnWritersThatGotAway(t *testing.T) {
	var pipes []*outputPipe
	for range 2 {
		o, err := newOutputPipe(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Dup(int(o.w.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		away := os.NewFile(uintptr(fd), "away")
		t.Cleanup(func() { away.Close() })
		pipes = append(pipes, o)
	}
	started(pipes)
	done := make(chan struct{})
	go func() {
		drain(pipes)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("drain still waits for writers that got away")
	}
}

// A pipe being gathered is not in the runtime's network poller: there,
// every line the service wrote would wake one of tandem's threads, even
// while the copy sleeps between reads.
func TestOutputPipeIsNotPolledByTheRuntime(t *testing.T) {
	// A pollable file first, so that the runtime's epoll exists and the
	// check below can see what it watches.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	o, err := newOutputPipe(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		started([]*outputPipe{o})
		<-o.done
	}()
	watched := polledFDs(t)
	if !watched[int(pr.Fd())] {
		t.Fatalf("the check cannot see the runtime's poller: os.Pipe's fd %d is not among %v", pr.Fd(), watched)
	}
	if watched[o.r] {
		t.Errorf("the output pipe's read end (fd %d) is in the runtime's poller", o.r)
	}
}

// polledFDs returns the descriptors that this process's epoll instances
// watch, from /proc/self/fdinfo.
func polledFDs(t *testing.T) map[int]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := map[int]bool{}
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || l != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			var fd int
			if _, err := fmt.Sscanf(line, "tfd: %d", &fd); err == nil {
				fds[fd] = true
			}
		}
	}
	return fds
}

// Once the copy has ended, its descriptors' numbers are free for other
// files: ending it again must not write to whatever got them.
func TestEndAfterTheCopyEndedWritesNowhere(t *testing.T) {
	o, err := newOutputPipe(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	stop := o.stop
	o.mu.Unlock()
	started([]*outputPipe{o})
	<-o.done // every writer closed it: the copy closed its descriptors
	var files []*os.File
	for range 4 { // the lowest free numbers, the copy's among them
		f, err := os.CreateTemp(t.TempDir(), "reused")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	reused := false
	for _, f := range files {
		reused = reused || int(f.Fd()) == stop
	}
	if !reused {
		t.Skipf("no file got the eventfd's number %d", stop)
	}
	o.end()
	for _, f := range files {
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != 0 {
			t.Errorf("%s (fd %d): %d bytes written", f.Name(), f.Fd(), st.Size())
		}
	}
}
