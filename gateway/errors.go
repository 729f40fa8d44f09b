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
	"github.com/valyala/fasthttp"
)

// failure is the gateway answering for a service that could not.
type failure struct {
	status int
	msg    string // for the browser: names the service, never an address
	kind   string // for the Observer: "dial", "timeout", "reset", "bad_response", "down"
}

// classify maps an upstream error to what the browser is told.
func classify(service string, err error) failure {
	var de *dialError
	switch {
	case errors.As(err, &de) && de.timeout:
		return failure{http.StatusGatewayTimeout, service + " did not accept the connection in time", "timeout"}
	case errors.As(err, &de):
		return failure{http.StatusServiceUnavailable, service + " is not accepting connections", "dial"}
	case isTimeout(err):
		return failure{http.StatusGatewayTimeout, service + " did not answer in time", "timeout"}
	case nothingRead(err) || isWriteError(err):
		return failure{http.StatusBadGateway, service + " did not send a valid response", "reset"}
	}
	// Connected, then the exchange broke (a malformed response): nginx's 502.
	return failure{http.StatusBadGateway, service + " did not send a valid response", "bad_response"}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) ||
		errors.As(err, &ne) && ne.Timeout()
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

// answer is a response the gateway writes itself.
type answer struct {
	status  int
	ctype   string
	body    []byte
	noStore bool // error answers: the service may be back in a second
}

// failAnswer is the answer to a failure: the gateway's own page when the
// client caused it (400, 413), else the route's answer for its service.
func (x *exchange) failAnswer(f *failure) answer {
	switch f.status {
	case http.StatusBadRequest:
		return badRequest
	case http.StatusRequestEntityTooLarge:
		return tooLarge
	}
	return x.route.errorAnswer(*f)
}

// errorAnswer is rt's answer for its service in the route's error format.
func (rt *route) errorAnswer(f failure) answer {
	if rt.Errors == tandem.ErrorsJSON {
		return answer{f.status, "application/json", envelope(f.msg), true}
	}
	if rt.page != nil {
		return answer{f.status, "text/html; charset=utf-8", rt.page, true}
	}
	return pageAnswer(f.status, rt.Service+" is not available right now", sentence(f.msg), true)
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

var (
	notFound       = pageAnswer(http.StatusNotFound, "Page not found", "Nothing is served at this address.", false)
	notStarted     = pageAnswer(http.StatusServiceUnavailable, "tandem is starting", "No stack is being served yet.", true)
	noConnect      = pageAnswer(http.StatusMethodNotAllowed, "Method not allowed", "The gateway does not tunnel CONNECT requests.", false)
	badRequest     = pageAnswer(http.StatusBadRequest, "Bad request", "The request could not be understood.", false)
	notImplemented = pageAnswer(http.StatusNotImplemented, "Not implemented", "The gateway accepts request bodies with a length or chunked, nothing else.", false)
	tooLarge       = pageAnswer(http.StatusRequestEntityTooLarge, "Request too large", "The request body is larger than this server accepts.", false)
	headersLarge   = pageAnswer(http.StatusRequestHeaderFieldsTooLarge, "Request headers too large", "The request's headers are larger than this server accepts.", false)
	clientTimout   = pageAnswer(http.StatusRequestTimeout, "Request timeout", "The request did not arrive in time.", false)
)

// pageAnswer is the built-in HTML page: small, self-contained, no
// internal detail.
func pageAnswer(status int, heading, detail string, retry bool) answer {
	title := strconv.Itoa(status) + " " + http.StatusText(status)
	hint := ""
	if retry {
		hint = "<p class=hint>Try again in a few seconds.</p>\n"
	}
	body := []byte(`<!doctype html>
<html lang=en>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>` + html.EscapeString(title) + `</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:15vh auto;padding:0 1.5rem;color:#222}h1{font-size:1.4rem}.hint,.status{color:#666}</style>
<h1>` + html.EscapeString(heading) + `</h1>
<p>` + html.EscapeString(detail) + `</p>
` + hint + `<p class=status>` + html.EscapeString(title) + `</p>
</html>
`)
	return answer{status, "text/html; charset=utf-8", body, status >= 500}
}

// writeFast writes a to a fasthttp response, replacing whatever a service's
// partial answer left there.
func (a answer) writeFast(resp *fasthttp.Response) {
	resp.Reset()
	resp.Header.SetNoDefaultContentType(true)
	resp.SetStatusCode(a.status)
	resp.Header.SetContentType(a.ctype)
	resp.Header.Set("X-Content-Type-Options", "nosniff")
	if a.noStore {
		resp.Header.Set("Cache-Control", "no-store")
	}
	resp.SetBodyRaw(a.body)
}

// writeStd writes a to a net/http response.
func (a answer) writeStd(w http.ResponseWriter) {
	h := w.Header()
	clear(h)
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.noStore {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}
