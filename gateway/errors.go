package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandem-dev/tandem"
)

// failure is the gateway answering for a service that could not.
type failure struct {
	status int
	msg    string // for the browser: names the service, never an address
}

// proxyError is the ReverseProxy ErrorHandler of route rt.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	lw, _ := w.(*logWriter)
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		// The client left: nobody to answer, nothing for an operator to fix.
		if lw != nil {
			lw.status = StatusClientClosedRequest
		}
		return
	}
	if lw != nil {
		lw.err = err
		if lw.wroteHeader() {
			return // a WebSocket that failed after the 101: too late for a page
		}
	}
	rt.writeError(w, classify(rt.Service, err))
}

// classify maps a transport error to what the browser is told.
func classify(service string, err error) failure {
	var de *dialError
	switch {
	case errors.As(err, &de) && isTimeout(err):
		return failure{http.StatusGatewayTimeout, service + " did not accept the connection in time"}
	case errors.As(err, &de):
		return failure{http.StatusServiceUnavailable, service + " is not accepting connections"}
	case isTimeout(err):
		return failure{http.StatusGatewayTimeout, service + " did not answer in time"}
	}
	// Connected, then the exchange broke (the process died mid-request, a
	// malformed response): nginx's 502.
	return failure{http.StatusBadGateway, service + " did not send a valid response"}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// publicMessage is the part of a Ready error fit for a browser: a
// tandem.Error's Message without its cause, which may name paths or addresses.
func publicMessage(err error) string {
	var te *tandem.Error
	if errors.As(err, &te) && te.Message != "" {
		return te.Message
	}
	return err.Error()
}

// writeError answers for rt's service in the route's error format.
func (rt *route) writeError(w http.ResponseWriter, f failure) {
	h := w.Header()
	h.Set("Cache-Control", "no-store") // the service may be back in a second
	if rt.Errors == tandem.ErrorsJSON {
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(f.status)
		_, _ = w.Write(envelope(f.msg))
		return
	}
	if rt.page != nil {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(f.status)
		_, _ = w.Write(rt.page)
		return
	}
	writePage(w, f.status, rt.Service+" is not available right now", sentence(f.msg), true)
}

// sentence ends msg with a full stop unless it has one.
func sentence(msg string) string {
	if msg == "" || strings.ContainsRune(".!?", rune(msg[len(msg)-1])) {
		return msg
	}
	return msg + "."
}

// envelope is the JSON error body of API routes, the shape a Django API in
// the stack answers with: {"status":"error","data":null,"error":"..."}.
func envelope(msg string) []byte {
	q, _ := json.Marshal(msg)
	b := make([]byte, 0, 40+len(q))
	b = append(b, `{"status":"error","data":null,"error":`...)
	b = append(b, q...)
	return append(b, '}')
}

func notFound(w http.ResponseWriter) {
	writePage(w, http.StatusNotFound, "Page not found", "Nothing is served at this address.", false)
}

// writePage writes the built-in HTML page: small, self-contained, no
// internal detail.
func writePage(w http.ResponseWriter, status int, heading, detail string, retry bool) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if status >= 500 {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	title := strconv.Itoa(status) + " " + http.StatusText(status)
	hint := ""
	if retry {
		hint = "<p class=hint>Try again in a few seconds.</p>\n"
	}
	_, _ = w.Write([]byte(`<!doctype html>
<html lang=en>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>` + html.EscapeString(title) + `</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:15vh auto;padding:0 1.5rem;color:#222}h1{font-size:1.4rem}.hint,.status{color:#666}</style>
<h1>` + html.EscapeString(heading) + `</h1>
<p>` + html.EscapeString(detail) + `</p>
` + hint + `<p class=status>` + html.EscapeString(title) + `</p>
</html>
`))
}
