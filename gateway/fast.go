package gateway

import (
	"net"
	"net/http"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// serveFast is the fasthttp handler: plain HTTP/1.1 and HTTP/1.1 over TLS.
// The client's request is rewritten in place and written to the service;
// the service's response head is read straight into the client's response.
func (g *Gateway) serveFast(ctx *fasthttp.RequestCtx) {
	x := g.newExchange()
	req, resp := &ctx.Request, &ctx.Response
	x.method = methodOf(req.Header.Method())

	// r's strings view the request's own buffer: valid until its
	// request-target is rewritten below.
	peer := peerOf(ctx.RemoteAddr())
	r := request{
		tg:      splitTarget(b2s(req.Header.RequestURI())),
		host:    req.Header.Host(),
		head:    scanHead(req.Header.RawHeaders()),
		hdr:     (*fastHeaders)(&req.Header),
		peer:    peer,
		tls:     ctx.IsTLS(),
		chunked: req.Header.ContentLength() == -1,
		http10:  !req.Header.IsHTTP11(),
		connect: req.Header.IsConnect(),
	}
	tg := r.tg
	if g.log != nil {
		x.path = strings.Clone(tg.path)
		x.client = g.clientIP(peer, req.Header.PeekAll("X-Forwarded-For"))
	}

	d := x.resolve(g.table.Load(), &r)
	switch {
	case d.answer != nil:
		x.answerFast(ctx, *d.answer)
		return
	case d.failure != nil:
		x.failFast(ctx, d.failure)
		return
	case d.redirect != "":
		resp.Header.Set("Location", d.redirect)
		resp.SetStatusCode(http.StatusMovedPermanently)
		x.status = http.StatusMovedPermanently
		x.finishFast(ctx)
		return
	case d.handler != nil:
		x.serveHandlerFast(ctx, d.handler, d, r.chunked)
		return
	}
	if tg.absolute {
		req.Header.SetHostBytes(d.host) // a copy: d.host views the target
	}
	host := req.Header.Host()
	clean, changed, rt := d.clean, d.changed, x.route

	var body *reqBody
	if stream := ctx.RequestBodyStream(); stream != nil {
		n := int64(req.Header.ContentLength()) // -1: chunked
		if max := g.opts.MaxRequestBodySize; max > 0 && n > max {
			x.answerFast(ctx, tooLarge)
			return
		}
		if r.chunked {
			stream = newChunkedBody(&req.Header, stream)
		}
		body = &reqBody{r: stream, n: n, max: g.opts.MaxRequestBodySize}
		// The client-header deadline covered the head; an upload may
		// take as long as it takes.
		_ = ctx.Conn().SetReadDeadline(time.Time{})
	}
	upgrade := upgradeRequested(&req.Header)
	if uri, ok := appendUpstreamURI(x.uri[:0], tg, clean, changed, rt); ok {
		x.uri = uri
		req.Header.SetRequestURIBytes(uri)
	}
	g.prepareRequest(&req.Header, clientInfo{peer: peer, tls: ctx.IsTLS(), host: host}, upgrade, r.head.special, d.cookie)

	x.watchClient(ctx.Conn())
	b, f := x.send(req, resp, body, req.Header.IsHead())
	if body != nil && !body.consumed() {
		// What is left of the body would be read as the next request.
		ctx.SetConnectionClose()
	}
	if f != nil {
		x.failFast(ctx, f)
		return
	}
	x.status = resp.StatusCode()
	if x.status == http.StatusSwitchingProtocols {
		x.hijackFast(ctx, b, upgrade)
		return
	}
	rt.fixLocation(&resp.Header, host)
	if b == nil {
		x.bytes = int64(len(resp.Body()))
		x.finishFast(ctx)
		return
	}
	// fasthttp writes the body after this handler returns; b ends the
	// exchange when it is closed. Without a length, or for server-sent
	// events, each read goes out as a chunk, flushed.
	// A stream's head goes out at once: a server that sends its headers
	// and then waits for an event has answered, and the client is told.
	n := -1
	if b.mode == bodyFixed && !eventStream(&resp.Header) {
		n = int(b.left)
	} else {
		resp.ImmediateHeaderFlush = true
	}
	resp.SetBodyStream(b, n)
}

// hijackFast takes the client's connection over for a tunnel once the
// service has switched protocols.
func (x *exchange) hijackFast(ctx *fasthttp.RequestCtx, b *upBody, upgrade bool) {
	if !upgrade {
		// A 101 nobody asked for (h2c, with the upgrade dropped): never a tunnel.
		x.release(b.conn, false)
		releaseReader(b.br)
		x.failFast(ctx, x.fail(failure{http.StatusBadGateway, x.route.Service + " did not send a valid response", "bad_response"}, nil))
		return
	}
	x.unwatch()
	head := append([]byte(nil), ctx.Response.Header.Header()...)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) { x.tunnel(c, c, head, b.conn, b.br) })
}

// answerFast writes the gateway's own answer.
func (x *exchange) answerFast(ctx *fasthttp.RequestCtx, a answer) {
	a.writeFast(&ctx.Response) // first: it resets the response
	if body := ctx.RequestBodyStream(); body != nil || a.status == http.StatusBadRequest || a.status == http.StatusNotImplemented {
		// The unread body, or what follows a request whose framing is in
		// doubt, would be read as the next request.
		ctx.SetConnectionClose()
		if body != nil {
			lingerFast(ctx.Conn())
		}
	}
	x.status, x.bytes = a.status, int64(len(a.body))
	x.finishFast(ctx)
}

// failFast answers for the route's service; a client that left gets
// nothing: not even the empty 200 fasthttp would make up for a handler
// that wrote nothing, which a half-closed client would still read.
func (x *exchange) failFast(ctx *fasthttp.RequestCtx, f *failure) {
	if f.status == StatusClientClosedRequest {
		ctx.HijackSetNoResponse(true)
		ctx.Hijack(func(net.Conn) {}) // fasthttp closes it
		x.status = StatusClientClosedRequest
		x.finishFast(ctx)
		return
	}
	x.answerFast(ctx, x.failAnswer(f))
}

// A connection closed with unread bytes in its receive buffer is reset, and
// a client still sending its body then sees "broken pipe" or "connection
// reset" instead of the answer (a 413, say). So, as net/http does after a
// handler, what the client still sends is read and dropped before the
// answer goes out and the connection closes: from the connection itself
// (the body's framing may be what failed), until it has been quiet for
// lingerIdle, and never more than lingerBytes or lingerTime.
const (
	lingerBytes = 256 << 10
	lingerTime  = time.Second
	lingerIdle  = 100 * time.Millisecond
)

func lingerFast(c net.Conn) {
	buf := make([]byte, 16<<10)
	end := time.Now().Add(lingerTime)
	for n := 0; n < lingerBytes && time.Now().Before(end); {
		deadline := time.Now().Add(lingerIdle)
		if deadline.After(end) {
			deadline = end
		}
		_ = c.SetReadDeadline(deadline)
		m, err := c.Read(buf)
		n += m
		if err != nil {
			return
		}
	}
}

// finishFast ends the exchange once fasthttp has written the response: the
// access log, the Observer and closing a spent upstream connection are not
// paid for before the client has its answer. fasthttp closes a request's
// user values that are io.Closers after the response is flushed, and
// whenever it lets go of the request otherwise (a failed write, a
// hijack).
func (x *exchange) finishFast(ctx *fasthttp.RequestCtx) {
	if x.g.srv.closing.Load() {
		ctx.SetConnectionClose()
	}
	x.unwatch()
	ctx.SetUserValue(finishKey{}, (*finisher)(x))
}

type finishKey struct{}

// finisher is an exchange that finishes when fasthttp closes it.
type finisher exchange

func (f *finisher) Close() error {
	(*exchange)(f).finish()
	return nil
}

func (x *exchange) siteName() string {
	if x.site == nil {
		return ""
	}
	return x.site.name
}

// methodOf returns the method as a string, without allocating for the
// standard ones.
func methodOf(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	}
	return string(m)
}

// b2s views b as a string without copying: only while b is not modified.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// s2b views s as bytes without copying: never to be modified.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
