//go:build linux

package process

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A service that logs a line per request would otherwise wake tandem once
// a request to copy it, on top of the request itself. So outputPipe reads a
// command's output itself, and after a read that did not fill its buffer
// waits gather before reading again: lines arrive at most gather late, the
// pipe's 64 KiB hold what comes meanwhile, and a busy service costs a
// wakeup a gather, not a line.
//
// That needs the pipe kept out of Go's network poller. os.Pipe registers
// its read end there, edge-triggered, for good, and the kernel reports
// every write to a pipe so registered: each line woke the poller's thread
// even while the copy slept. So the read end is a bare descriptor,
// non-blocking, and when it is empty the copy waits in poll(2) on its own
// thread: a thread a pipe while its service is quiet, none while it sleeps
// between reads.
const (
	gather      = 20 * time.Millisecond
	outputDrain = 2 * time.Second // after the shim ends, for what is left
)

type outputPipe struct {
	r    int      // read end: tandem's, non-blocking, never polled by the runtime
	w    *os.File // write end: the child's, blocking
	done chan struct{}

	ending atomic.Bool
	mu     sync.Mutex
	stop   int // an eventfd, written to wake the copy's wait when it is to end; -1 once closed
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
	var p [2]int
	// Both ends blocking: O_NONBLOCK would be the child's too, and a
	// program writing to a full pipe would get EAGAIN instead of waiting.
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	// Only the read end's description is made non-blocking.
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, os.NewSyscallError("fcntl", err)
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, os.NewSyscallError("eventfd", err)
	}
	// A blocking descriptor: os.NewFile leaves it out of the poller too.
	o := &outputPipe{r: p[0], w: os.NewFile(uintptr(p[1]), "|1"), stop: stop, done: make(chan struct{})}
	go o.copy(dst)
	return o, nil
}

// copy writes what the pipe gives to dst until every writer has closed it,
// or end is called. A write error does not stop the reading: the command
// must never block on output nobody takes.
func (o *outputPipe) copy(dst io.Writer) {
	defer close(o.done)
	defer func() {
		// Under mu: end must never write to the number once it is free
		// for another file.
		o.mu.Lock()
		unix.Close(o.stop)
		o.stop = -1
		o.mu.Unlock()
	}()
	defer unix.Close(o.r)
	buf := make([]byte, 32<<10)
	for !o.ending.Load() {
		n, err := unix.Read(o.r, buf)
		switch {
		case n > 0:
			dst.Write(buf[:n])
			if n < len(buf) {
				time.Sleep(gather)
			}
		case err == nil: // every writer closed it
			return
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if !o.wait() {
				return
			}
		default:
			return
		}
	}
}

// wait blocks the calling thread until the pipe has something to read (or
// every writer closed it); false: the copy is to end.
func (o *outputPipe) wait() bool {
	fds := []unix.PollFd{{Fd: int32(o.r), Events: unix.POLLIN}, {Fd: int32(o.stop), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		return err == nil && fds[1].Revents == 0
	}
}

// end tells the copy to stop reading, whoever still holds the write end,
// and waits for it.
func (o *outputPipe) end() {
	o.ending.Store(true)
	o.mu.Lock()
	if o.stop >= 0 {
		unix.Write(o.stop, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
	o.mu.Unlock()
	<-o.done
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
		o.end()
	}
}
