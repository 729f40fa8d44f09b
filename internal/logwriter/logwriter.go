// Package logwriter buffers log output that arrives a line at a time:
// access logs and services' output, a line per request under load. Writing
// each line with its own system call costs more than proxying the request
// did (system calls are dear under gVisor and not cheap anywhere), so lines
// are gathered and written at most a short delay after the first of them.
package logwriter

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Delay is how long a line may wait before it is written.
const Delay = 100 * time.Millisecond

// Writer is a buffered io.Writer, safe for concurrent use, that writes what
// it holds within Delay of receiving it, when its buffer fills, and on
// Flush and Close.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	buf   *bufio.Writer
	timer *time.Timer
	armed bool
}

// New returns a Writer that writes to w.
func New(w io.Writer) *Writer {
	l := &Writer{w: w, buf: bufio.NewWriterSize(w, 64<<10)}
	l.timer = time.AfterFunc(time.Hour, func() { l.Flush() })
	l.timer.Stop()
	return l
}

func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	if !l.armed && l.buf.Buffered() > 0 {
		l.armed = true
		l.timer.Reset(Delay)
	}
	return n, err
}

// Flush writes what is held.
func (l *Writer) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	l.timer.Stop()
	return l.buf.Flush()
}

// Close flushes, and closes the underlying writer if it is a Closer.
func (l *Writer) Close() error {
	err := l.Flush()
	if c, ok := l.w.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
