package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
)

// Gate decides whether a request may reach a Site's services: tandem
// serve puts one in front of each private preview (package access). It
// runs for every request to its site, on every front-end, once the host
// matched and before the path is routed, so it must be cheap for the
// requests it lets through. A Site without one pays nothing.
type Gate func(r *GateRequest) GateDecision

// GateRequest is the head of a request, as a Gate sees it. Its strings
// may view the request's buffer: valid during the call only, to be copied
// if kept.
type GateRequest struct {
	Method string
	Host   string     // as the client sent it (or an absolute-form target's authority), port included
	Path   string     // escaped, as sent, without the query; "/" when the target had none
	Query  string     // after '?', as sent
	TLS    bool       // the client connected over TLS
	Client netip.Addr // the client; behind a trusted proxy, the address it forwarded for

	hdr headerSource
}

// Header returns the first value of the header field called name, or "".
func (r *GateRequest) Header(name string) string {
	if r.hdr == nil {
		return ""
	}
	if vs := r.hdr.get(name, nil); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Cookie returns the value of the first cookie called name in the
// request's Cookie header fields.
func (r *GateRequest) Cookie(name string) (string, bool) {
	if r.hdr == nil {
		return "", false
	}
	for _, line := range r.hdr.get("Cookie", nil) {
		for pair := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimLeft(pair, " \t"), "=")
			if k == name {
				return strings.TrimRight(v, " \t"), true
			}
		}
	}
	return "", false
}

// GateDecision is what becomes of a request a Gate saw.
type GateDecision struct {
	// Handler, when set, answers the request instead of the site's
	// services: a redirect to sign in, a 401, the gate's own pages. It gets
	// the request with its body (at most MaxGateBody bytes) and with
	// ClientAddr in its context.
	Handler http.Handler

	// For a request that passes: who it is from and which instance serves
	// it, for the access log ("" and 0 log nothing), and the name of the
	// gate's own cookie, removed from the Cookie header fields before the
	// service sees the request (every other cookie stays byte for byte).
	Principal  string
	Generation int
	Cookie     string
}

// MaxGateBody is the most of a request body a GateDecision's Handler
// reads: its forms are small.
const MaxGateBody = 64 << 10

// gateHeaderPrefix starts the header fields that belong to tandem: a
// client's own are never passed on, whatever the site, since they could
// claim an identity the gate did not check.
const gateHeaderPrefix = "x-tandem-"

type clientAddrKey struct{}

// ClientAddr returns the client address the gateway put in the context of
// a request it hands to a GateDecision's Handler.
func ClientAddr(r *http.Request) netip.Addr {
	a, _ := r.Context().Value(clientAddrKey{}).(netip.Addr)
	return a
}

// headerSource is a request's header fields as either front-end holds
// them.
type headerSource interface {
	get(name string, dst []string) []string
}

// fastHeaders are fasthttp's. PeekAll leaves cookies as sent: they are
// never parsed, so never re-serialised.
type fastHeaders fasthttp.RequestHeader

func (h *fastHeaders) get(name string, dst []string) []string {
	for _, v := range (*fasthttp.RequestHeader)(h).PeekAll(name) {
		dst = append(dst, string(v))
	}
	return dst
}

// stdHeaders are net/http's.
type stdHeaders http.Header

func (h stdHeaders) get(name string, dst []string) []string {
	return append(dst, http.Header(h).Values(name)...)
}

// runGate asks the site's gate about r. It returns the Handler to answer
// with, if the gate answers, and the gate's cookie otherwise.
func (x *exchange) runGate(gate Gate, r *request, host []byte) (http.Handler, netip.Addr, string) {
	client := r.peer
	if x.g.trustedAddr(client) {
		var xff [][]byte
		for _, v := range r.hdr.get("X-Forwarded-For", nil) {
			xff = append(xff, []byte(v))
		}
		client, _ = netip.ParseAddr(x.g.clientIP(r.peer, xff))
	}
	path := r.tg.path
	if path == "" {
		path = "/"
	}
	gr := GateRequest{Method: x.method, Host: string(host), Path: path, Query: r.tg.query, TLS: r.tls, Client: client, hdr: r.hdr}
	d := gate(&gr)
	if d.Handler != nil {
		return d.Handler, client, ""
	}
	x.principal, x.generation = d.Principal, d.Generation
	return nil, client, d.Cookie
}

// isGateHeader reports whether a header field's name starts with
// X-Tandem-.
func isGateHeader[T string | []byte](name T) bool {
	return len(name) >= len(gateHeaderPrefix) && strings.EqualFold(string(name[:len(gateHeaderPrefix)]), gateHeaderPrefix)
}

// dropGateHeaders removes the X-Tandem-* fields a client sent, found in
// its raw head (the fasthttp path: net/http's never copies them).
func dropGateHeaders(h *fasthttp.RequestHeader) {
	var names []string
	raw := h.RawHeaders()
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if colon := bytes.IndexByte(line, ':'); colon > 0 && isGateHeader(line[:colon]) {
			names = append(names, string(line[:colon]))
		}
	}
	for _, n := range names {
		h.Del(n)
	}
}

// dropCookie removes every cookie called name from h's Cookie fields and
// leaves the rest of each field as it was; a field left empty goes.
func dropCookie(h *fasthttp.RequestHeader, name string) {
	h.DisableSpecialHeader() // keeps fasthttp from parsing and re-serialising cookies
	defer h.EnableSpecialHeader()
	var lines []string
	changed := false
	for _, v := range h.PeekAll("Cookie") {
		line, dropped := withoutCookie(string(v), name)
		changed = changed || dropped
		if line != "" {
			lines = append(lines, line)
		}
	}
	if !changed {
		return
	}
	h.Del("Cookie")
	for _, l := range lines {
		h.Add("Cookie", l)
	}
}

// withoutCookie removes the pairs called name from a Cookie field's value.
func withoutCookie(line, name string) (string, bool) {
	var kept []string
	dropped := false
	for pair := range strings.SplitSeq(line, ";") {
		if k, _, _ := strings.Cut(strings.TrimLeft(pair, " \t"), "="); k == name {
			dropped = true
			continue
		}
		kept = append(kept, pair)
	}
	if !dropped {
		return line, false
	}
	return strings.TrimLeft(strings.Join(kept, ";"), " \t"), true
}

// serveHandlerFast answers a fasthttp request with a gate's Handler.
func (x *exchange) serveHandlerFast(ctx *fasthttp.RequestCtx, h http.Handler, d decision, chunked bool) {
	req := &ctx.Request
	u, err := url.ParseRequestURI(string(req.Header.RequestURI()))
	if err != nil {
		x.answerFast(ctx, badRequest)
		return
	}
	hr := &http.Request{
		Method: x.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: string(d.host), RemoteAddr: ctx.RemoteAddr().String(),
		RequestURI: string(req.Header.RequestURI()), TLS: ctx.TLSConnectionState(), Body: http.NoBody,
	}
	req.Header.VisitAll(func(k, v []byte) {
		if key := string(k); key != "Host" {
			hr.Header.Add(key, string(v))
		}
	})
	w := &fastWriter{resp: &ctx.Response, h: http.Header{}}
	var stream io.Reader
	if s := ctx.RequestBodyStream(); s != nil {
		stream = s
		if chunked {
			stream = newChunkedBody(&req.Header, s)
		}
		hr.ContentLength = int64(req.Header.ContentLength())
		hr.Body = http.MaxBytesReader(w, io.NopCloser(stream), MaxGateBody)
		// What the handler leaves unread would be read as the next request.
		ctx.SetConnectionClose()
	}
	hr = hr.WithContext(context.WithValue(context.Background(), clientAddrKey{}, d.client))
	h.ServeHTTP(w, hr)
	w.WriteHeader(http.StatusOK)
	x.status, x.bytes = w.status, int64(len(ctx.Response.Body()))
	x.finishFast(ctx)
}

// fastWriter is an http.ResponseWriter into a fasthttp response, for the
// small answers of a gate's Handler (no streaming, no hijacking).
type fastWriter struct {
	resp   *fasthttp.Response
	h      http.Header
	status int
}

func (w *fastWriter) Header() http.Header { return w.h }

func (w *fastWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	w.resp.Reset()
	w.resp.Header.SetNoDefaultContentType(true)
	w.resp.SetStatusCode(code)
	for k, vs := range w.h {
		for _, v := range vs {
			w.resp.Header.Add(k, v)
		}
	}
}

func (w *fastWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.resp.BodyWriter().Write(p)
}

// serveHandlerStd answers a net/http request with a gate's Handler.
func (x *exchange) serveHandlerStd(w http.ResponseWriter, r *http.Request, h http.Handler, d decision) {
	cw := &countingWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), clientAddrKey{}, d.client))
	if r.Body != nil {
		r.Body = http.MaxBytesReader(cw, r.Body, MaxGateBody)
	}
	h.ServeHTTP(cw, r)
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	x.status, x.bytes = cw.status, cw.n
	x.finish()
}

// countingWriter records what a Handler answered, for the access log.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
