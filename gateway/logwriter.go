package gateway

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the
// response was complete. It is only ever logged, never sent.
const StatusClientClosedRequest = 499

// logWriter records what the access log needs. It keeps Flush, Hijack and
// Unwrap reachable, or streaming and WebSockets would silently break.
type logWriter struct {
	http.ResponseWriter
	start    time.Time
	status   int
	bytes    int64
	hijacked bool
	writeErr bool  // a write to the client failed: it has left
	err      error // why the gateway answered instead of the service
	done     bool  // the handler returned normally

	site  string
	route *route
}

func (w *logWriter) WriteHeader(code int) {
	// 1xx (103 Early Hints) come before the final status: pass them on,
	// don't record them.
	if w.status == 0 && (code < 100 || code > 199) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	if err != nil {
		w.writeErr = true
	}
	return n, err
}

func (w *logWriter) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController calls.
func (w *logWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack is how ReverseProxy takes over the connection after a 101.
func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
		w.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientGone reports whether the client left before its response was done.
func (w *logWriter) clientGone(r *http.Request) bool {
	return w.writeErr || r.Context().Err() != nil
}

// wroteHeader reports whether it is too late to answer with an error page.
func (w *logWriter) wroteHeader() bool { return w.status != 0 || w.hijacked }
