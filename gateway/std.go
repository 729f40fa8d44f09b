package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// ServeHTTP is the gateway as a net/http handler: what serves HTTP/2, and
// an entry point for embedding the gateway in a server of one's own
// (WebSockets included on HTTP/1.1). Routing, headers and upstream
// connections are those of the fasthttp path.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := g.newExchange()
	x.method = r.Method
	uri := r.RequestURI
	if uri == "" { // a request built by hand rather than read by a server
		uri = r.URL.RequestURI()
	}
	// net/http has checked the framing and, on HTTP/1, the Host lines
	// already; r.Host is the target's authority for an absolute-form one.
	var peer netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		peer = ap.Addr().Unmap()
	}
	in := request{tg: splitTarget(uri), host: s2b(r.Host), head: headInfo{special: hopByHop | forwarding, hosts: 1},
		hdr: stdHeaders(r.Header), peer: peer, tls: r.TLS != nil, connect: r.Method == http.MethodConnect}
	tg := in.tg
	if g.log != nil {
		x.path = tg.path
		x.client = g.clientIP(peer, headerBytes(r.Header["X-Forwarded-For"]))
	}

	d := x.resolve(g.table.Load(), &in)
	switch {
	case d.answer != nil:
		x.answerStd(w, *d.answer)
		return
	case d.failure != nil:
		x.failStd(w, d.failure)
		return
	case d.redirect != "":
		w.Header().Set("Location", d.redirect)
		w.WriteHeader(http.StatusMovedPermanently)
		x.status = http.StatusMovedPermanently
		x.finish()
		return
	case d.handler != nil:
		x.serveHandlerStd(w, r, d.handler, d)
		return
	}
	host := d.host
	clean, changed, rt := d.clean, d.changed, x.route

	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	resp.Header.SetNoDefaultContentType(true)
	req.Header.SetMethod(r.Method)
	if u, ok := appendUpstreamURI(nil, tg, clean, changed, rt); ok {
		req.Header.SetRequestURIBytes(u)
	} else {
		req.Header.SetRequestURI(uri)
	}
	req.Header.SetHostBytes(host)
	copyRequestHeader(&req.Header, r.Header)

	var body *reqBody
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if max := g.opts.MaxRequestBodySize; max > 0 && r.ContentLength > max {
			x.answerStd(w, tooLarge)
			return
		}
		body = &reqBody{r: r.Body, n: r.ContentLength, max: g.opts.MaxRequestBodySize}
		if r.ProtoMajor == 1 {
			body.r = h1Body{r.Body}
		}
		req.Header.SetContentLength(int(r.ContentLength))
	}
	upgrade := r.ProtoMajor == 1 && upgradeRequested(&req.Header)
	g.prepareRequest(&req.Header, clientInfo{peer: peer, tls: r.TLS != nil, host: host}, upgrade, in.head.special, d.cookie)

	stop := context.AfterFunc(r.Context(), x.abortFunc())
	defer stop()
	b, f := x.send(req, resp, body, r.Method == http.MethodHead)
	if f != nil {
		x.failStd(w, f)
		return
	}
	x.status = resp.StatusCode()
	if x.status == http.StatusSwitchingProtocols {
		x.hijackStd(w, resp, b, upgrade)
		return
	}
	rt.fixLocation(&resp.Header, host)
	streaming := b != nil && (b.mode != bodyFixed || eventStream(&resp.Header))
	copyResponseHeader(w.Header(), &resp.Header, streaming)
	w.WriteHeader(x.status)
	if streaming {
		http.NewResponseController(w).Flush() // the head at once, as fast.go does
	}
	if b == nil {
		n, _ := w.Write(resp.Body())
		x.bytes = int64(n)
		x.finish()
		return
	}
	b.CloseWithError(copyBody(w, b, streaming))
}

// copyBody streams a service's body to w, flushing each read of a stream
// (chunked, unknown length, server-sent events) so that it arrives in
// pieces.
func copyBody(w http.ResponseWriter, b *upBody, flush bool) error {
	rc := http.NewResponseController(w)
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for {
		n, err := b.Read(*buf)
		if n > 0 {
			if _, werr := w.Write((*buf)[:n]); werr != nil {
				return werr
			}
			if flush {
				if werr := rc.Flush(); werr != nil {
					return werr
				}
			}
		}
		if err != nil {
			return nil // a read error is the service's: upBody knows it
		}
	}
}

// hijackStd is hijackFast for net/http's HTTP/1.1 server.
func (x *exchange) hijackStd(w http.ResponseWriter, resp *fasthttp.Response, b *upBody, upgrade bool) {
	var f *failure
	if upgrade {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err == nil {
			head := append([]byte(nil), resp.Header.Header()...)
			x.tunnel(c, brw.Reader, head, b.conn, b.br)
			return
		}
	}
	x.release(b.conn, false)
	releaseReader(b.br)
	f = x.fail(failure{http.StatusBadGateway, x.route.Service + " did not send a valid response", "bad_response"}, nil)
	x.failStd(w, f)
}

func (x *exchange) answerStd(w http.ResponseWriter, a answer) {
	a.writeStd(w)
	x.status, x.bytes = a.status, int64(len(a.body))
	x.finish()
}

// failStd is failFast for net/http: a client that left gets its response
// aborted (the connection closed, or the HTTP/2 stream reset) rather than
// the empty 200 net/http would send for a handler that wrote nothing.
func (x *exchange) failStd(w http.ResponseWriter, f *failure) {
	if f.status == StatusClientClosedRequest {
		x.status = StatusClientClosedRequest
		x.finish()
		panic(http.ErrAbortHandler)
	}
	x.answerStd(w, x.failAnswer(f))
}

// h1Body is a request body read by net/http's HTTP/1 server, whose errors
// other than the connection's own say the body was malformed (a chunk
// size that is not one, bytes after a chunk's data).
type h1Body struct{ r io.Reader }

func (b h1Body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var ne net.Error
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("%w: %w", errMalformedBody, err)
	}
	return n, err
}

// copyRequestHeader copies a net/http request's headers into a fasthttp
// one, but for a client's X-Tandem-* ones. Cookie goes in raw: fasthttp
// would parse and re-serialise it.
func copyRequestHeader(dst *fasthttp.RequestHeader, src http.Header) {
	for k, vs := range src {
		switch {
		case k == "Host", k == "Content-Length", k == "Transfer-Encoding", isGateHeader(k):
			continue
		case k == "Cookie":
			dst.DisableSpecialHeader()
			for _, v := range vs {
				dst.Add(k, v)
			}
			dst.EnableSpecialHeader()
			continue
		}
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// copyResponseHeader copies a service's response head to a net/http
// response. net/http frames the body itself.
func copyResponseHeader(dst http.Header, src *fasthttp.ResponseHeader, streaming bool) {
	src.VisitAll(func(k, v []byte) {
		key := string(k)
		switch key {
		case "Transfer-Encoding":
			return
		case "Content-Length":
			if streaming {
				return
			}
		}
		dst[key] = append(dst[key], string(v))
	})
}

func headerBytes(vs []string) [][]byte {
	b := make([][]byte, len(vs))
	for i, v := range vs {
		b[i] = []byte(v)
	}
	return b
}
