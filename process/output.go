//go:build linux

package process

import (
	"io"
	"os"
	"time"
)

// A service that logs a line per request would otherwise wake tandem once
// a request to copy it, on top of the request itself: os/exec reads its
// pipe as soon as anything is in it. outputPipe reads a command's output
// itself, and after a read that did not fill its buffer waits gather
// before reading again: lines arrive at most gather late, the pipe's 64 KiB
// hold what comes meanwhile, and a busy service costs a wakeup a gather,
// not a line.
const (
	gather      = 20 * time.Millisecond
	outputDrain = 2 * time.Second // after the shim ends, for what is left
)

type outputPipe struct {
	r, w *os.File
	done chan struct{}
}

// childOutput returns what the child is given as stdout and stderr for w
// and e: a file as is, any other writer through an outputPipe (one for
// both when they are the same writer, as os/exec does).
func childOutput(w, e io.Writer) (stdout, stderr io.Writer, pipes []*outputPipe, err error) {
	wrap := func(dst io.Writer) (io.Writer, error) {
		if dst == nil {
			return nil, nil
		}
		if f, ok := dst.(*os.File); ok {
			return f, nil
		}
		o, err := newOutputPipe(dst)
		if err != nil {
			return nil, err
		}
		pipes = append(pipes, o)
		return o.w, nil
	}
	if stdout, err = wrap(w); err != nil {
		return nil, nil, nil, err
	}
	if sameWriter(w, e) {
		return stdout, stdout, pipes, nil
	}
	if stderr, err = wrap(e); err != nil {
		closePipes(pipes)
		return nil, nil, nil, err
	}
	return stdout, stderr, pipes, nil
}

func sameWriter(a, b io.Writer) (same bool) {
	defer func() { recover() }() // writers of a type == cannot compare
	return a != nil && a == b
}

func newOutputPipe(dst io.Writer) (*outputPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o := &outputPipe{r: r, w: w, done: make(chan struct{})}
	go o.copy(dst)
	return o, nil
}

// copy writes what the pipe gives to dst until every writer has closed it
// (or wait gave up on them). A write error does not stop the reading: the
// command must never block on output nobody takes.
func (o *outputPipe) copy(dst io.Writer) {
	defer close(o.done)
	defer o.r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			dst.Write(buf[:n])
		}
		if err != nil {
			return
		}
		if n < len(buf) {
			time.Sleep(gather)
		}
	}
}

// started closes tandem's copies of the pipes' write ends: the child has
// its own.
func started(pipes []*outputPipe) {
	for _, o := range pipes {
		o.w.Close()
	}
}

// closePipes ends pipes a child was never started with.
func closePipes(pipes []*outputPipe) {
	started(pipes)
	for _, o := range pipes {
		<-o.done
	}
}

// drain waits, once the shim has ended, for the pipes' last output. The
// shim's end ends its PID namespace and with it every writer; a writer
// that got out some other way is not waited for past outputDrain.
func drain(pipes []*outputPipe) {
	limit := time.NewTimer(outputDrain)
	defer limit.Stop()
	expired := false
	for _, o := range pipes {
		if !expired {
			select {
			case <-o.done:
				continue
			case <-limit.C:
				expired = true
			}
		}
		o.r.Close()
		<-o.done
	}
}
