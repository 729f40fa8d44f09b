// Package tail keeps the last lines of a program's output, for the report
// of a start or a command that failed: only the end of the output is kept,
// however much the program writes.
package tail

import (
	"strings"
	"sync"
)

// keep is how many bytes of output a Writer holds at most.
const keep = 4 << 10

// Writer keeps the last bytes written to it. It is safe for concurrent
// use: a program's stdout and stderr may both write to it.
type Writer struct {
	mu  sync.Mutex
	buf []byte
}

func (w *Writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, b...)
	if len(w.buf) > keep {
		w.buf = w.buf[len(w.buf)-keep:]
	}
	w.mu.Unlock()
	return len(b), nil
}

// Lines returns the last n lines written, without surrounding blank space.
func (w *Writer) Lines(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ls := strings.Split(strings.TrimSpace(string(w.buf)), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.TrimSpace(strings.Join(ls, "\n"))
}
