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
