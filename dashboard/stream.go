package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// stream is a response of server-sent events.
type stream struct {
	mu  sync.Mutex // one writer at a time: the handler, or the keepalive
	w   http.ResponseWriter
	rc  *http.ResponseController
	ctx context.Context
	end context.CancelFunc
	wg  sync.WaitGroup
}

// keepalive is how often an idle stream says it is there, so that proxies
// between keep it open.
const keepalive = 20 * time.Second

// stream starts a response of events. It ends when the client goes, or
// after the server's stream limit: the browser then reconnects, and its
// session is checked again. nil if the response cannot stream.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) *stream {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	if rc.Flush() != nil {
		return nil
	}
	ctx, end := context.WithTimeout(r.Context(), s.cfg.StreamLimit)
	st := &stream{w: w, rc: rc, ctx: ctx, end: end}
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		t := time.NewTicker(keepalive)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				st.write(": keepalive\n\n")
			case <-ctx.Done():
				return
			}
		}
	}()
	return st
}

// done is closed when the stream is to end.
func (st *stream) done() <-chan struct{} { return st.ctx.Done() }

// close ends the stream; the handler returns after it.
func (st *stream) close() {
	st.end()
	st.wg.Wait()
}

// send sends an event: its name, its id ("" for none) and its data, of
// one line or several.
func (st *stream) send(event, id, data string) {
	var b strings.Builder
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	// CR and LF both end a line of the stream's format.
	for _, line := range strings.FieldsFunc(strings.ReplaceAll(data, "\r\n", "\n"), func(r rune) bool { return r == '\n' || r == '\r' }) {
		b.WriteString("data: " + line + "\n")
	}
	if data == "" {
		b.WriteString("data:\n")
	}
	b.WriteString("\n")
	st.write(b.String())
}

func (st *stream) write(s string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ctx.Err() != nil {
		return
	}
	if _, err := fmt.Fprint(st.w, s); err != nil {
		st.end()
		return
	}
	if st.rc.Flush() != nil {
		st.end()
	}
}
