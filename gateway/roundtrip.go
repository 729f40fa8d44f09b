package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// The upstream client is built on fasthttp's wire code (Request and
// Response headers) with a pool of its own instead of fasthttp.HostClient:
// HostClient does not tell which of its connections carries a request, and
// the gateway must close exactly that one when the client leaves, clear its
// read deadline once a long stream has started, and tell a refused dial
// from a reset for passive health.

// smallBody is the largest response body with a known length that is read
// whole before the response is written: one write, and the upstream
// connection is free again at once. Larger ones stream.
const smallBody = 64 << 10

// upstreamReadBuffer bounds a service's response head.
const upstreamReadBuffer = 32 << 10

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, upstreamReadBuffer) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

var (
	errClientGone   = errors.New("client closed the request")
	errBodyTooLarge = errors.New("request body too large")
	errAborted      = errors.New("response aborted: the service failed mid-body")
)

// reqBody is a request body on its way to a service: n bytes, or -1 for a
// chunked one. Errors reading it are the client's, not the service's.
type reqBody struct {
	r       io.Reader
	n       int64
	max     int64 // 0: no limit
	read    int64
	started bool // Read was called: the body can no longer be sent again
	eof     bool
	err     error // the client's read error
}

// consumed reports whether the whole body was read from the client.
func (b *reqBody) consumed() bool { return b.eof || b.n >= 0 && b.read == b.n }

func (b *reqBody) Read(p []byte) (int, error) {
	b.started = true
	n, err := b.r.Read(p)
	b.read += int64(n)
	if err == io.EOF && b.n >= 0 && b.read < b.n {
		err = io.ErrUnexpectedEOF // the client stopped short of its Content-Length
	}
	if err == io.EOF {
		b.eof = true
	}
	if b.max > 0 && b.read > b.max {
		b.err = errBodyTooLarge
		return n, b.err
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// send forwards req (its head; body, when not nil, follows) to the route's
// service and reads the response head into resp. A small body is read into
// resp too; a larger or open-ended one is returned to stream, and the
// caller must close it. The connection goes back to the pool when the
// exchange is complete.
func (x *exchange) send(req *fasthttp.Request, resp *fasthttp.Response, body *reqBody, head bool) (*upBody, *failure) {
	u := x.route.upstream()
	x.up = u
	ok, trial := u.health.admit(x.start)
	if !ok {
		return nil, x.fail(failure{http.StatusServiceUnavailable, x.route.Service + " is unavailable after repeated connection failures", "down"}, nil)
	}
	opts := &x.g.opts
	// A request that cannot be sent twice must not go out on a connection
	// the service has already closed.
	check := body != nil || !idempotent(x.method)
	for attempt := 0; ; attempt++ {
		c, reused, err := x.connect(u, attempt > 0, check)
		if err != nil {
			if x.isGone() {
				u.health.abandon(trial)
				return nil, x.gone499()
			}
			u.health.failure(trial, opts.MaxFails, opts.FailTimeout)
			return nil, x.fail(classify(x.route.Service, err), err)
		}
		br, err := x.exchangeHead(c, req, resp, body)
		if err == nil {
			u.health.success(trial)
			b, f := x.body(c, br, resp, head)
			return b, f
		}
		x.drop(c)
		switch {
		case body != nil && body.err == errBodyTooLarge:
			u.health.abandon(trial)
			return nil, x.fail(failure{http.StatusRequestEntityTooLarge, "the request body is too large", ""}, nil)
		case body != nil && malformed(body.err):
			u.health.abandon(trial)
			return nil, &failure{status: http.StatusBadRequest}
		case x.isGone() || body != nil && body.err != nil:
			u.health.abandon(trial)
			return nil, x.gone499()
		case reused && attempt == 0 && unsent(err, body, x.method):
			// A kept-alive connection the service closed meanwhile: the
			// request never reached it, so try once more on a fresh one.
			continue
		case nothingRead(err) || isWriteError(err):
			u.health.failure(trial, opts.MaxFails, opts.FailTimeout)
		default:
			u.health.abandon(trial)
		}
		return nil, x.fail(classify(x.route.Service, err), err)
	}
}

// malformed: the client's body broke its own framing, or stopped short of
// it (nginx answers 400 to both).
func malformed(err error) bool {
	return errors.Is(err, errMalformedBody) || errors.Is(err, io.ErrUnexpectedEOF)
}

// unsent reports whether a request that failed with err on a kept-alive
// connection can be sent again on another: the service cannot have acted
// on it. Either writing its head failed before any of its body was read
// (nothing reached the service), or the connection ended without a byte
// of response to a request with an idempotent method and no body (RFC 9110
// section 9.2.2: a proxy never retries others on its own).
func unsent(err error, body *reqBody, method string) bool {
	if isWriteError(err) && (body == nil || !body.started) {
		return true
	}
	return body == nil && idempotent(method) && nothingRead(err)
}

// idempotent methods (RFC 9110 section 9.2.2).
func idempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// connect takes an idle connection (unless fresh) or dials one, abortable
// by the client leaving. check: an idle connection is only taken if the
// service has not closed it meanwhile.
func (x *exchange) connect(u *upstream, fresh, check bool) (*upConn, bool, error) {
	if !fresh {
		if c := u.takeIdle(x.start, check); c != nil {
			if !x.setConn(c) {
				c.Close()
				return nil, false, errClientGone
			}
			return c, true, nil
		}
	}
	if x.isGone() {
		return nil, false, errClientGone
	}
	ctx := &dialContext{x: x, deadline: time.Now().Add(x.g.opts.DialTimeout)}
	c, err := u.dial(ctx)
	ctx.end()
	if err != nil {
		return nil, false, err
	}
	if !x.setConn(c) {
		c.Close()
		return nil, false, errClientGone
	}
	return c, false, nil
}

// dialContext is the context of an exchange's dial: done at the dial
// timeout, or when the client leaves. A dial on loopback connects without
// waiting and only asks Err; so the real context, with its timer, is made
// only when something asks for Done. A dial per request to servers that
// close every connection paid for it each time.
type dialContext struct {
	x        *exchange
	deadline time.Time

	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	over   bool // end was called: x is no longer this dial's
}

func (c *dialContext) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *dialContext) Value(any) any               { return nil }
func (c *dialContext) Done() <-chan struct{}       { return c.made().Done() }

func (c *dialContext) Err() error {
	c.mu.Lock()
	ctx, over := c.ctx, c.over
	c.mu.Unlock()
	switch {
	case ctx != nil:
		return ctx.Err()
	case over:
		return context.Canceled
	case c.x.isGone():
		return context.Canceled
	case !time.Now().Before(c.deadline):
		return context.DeadlineExceeded
	}
	return nil
}

// made returns the real context, made on first use and canceled by the
// client leaving (at once if it already has).
func (c *dialContext) made() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithDeadline(context.Background(), c.deadline)
		if c.over || !c.x.setCancel(c.cancel) {
			c.cancel()
		}
	}
	return c.ctx
}

// end releases the real context, if one was made, once the dial is over.
// What a dialer left behind sees only the real context from then on, never
// the exchange, which serves other requests later.
func (c *dialContext) end() {
	c.mu.Lock()
	cancel := c.cancel
	c.over = true
	c.mu.Unlock()
	if cancel != nil {
		c.x.setCancel(nil)
		cancel()
	}
}

type writeError struct{ err error }

func (e writeError) Error() string { return "writing the request: " + e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

func isWriteError(err error) bool {
	var we writeError
	return errors.As(err, &we)
}

// nothingRead: the connection ended (or was reset) before the first byte
// of a response.
func nothingRead(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// exchangeHead writes the request and reads the response head, skipping
// interim 1xx responses other than 101.
func (x *exchange) exchangeHead(c *upConn, req *fasthttp.Request, resp *fasthttp.Response, body *reqBody) (*bufio.Reader, error) {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(c)
	err := req.Header.Write(bw)
	if err == nil && body != nil {
		err = writeBody(bw, body)
	}
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writerPool.Put(bw)
	if err != nil {
		return nil, writeError{err}
	}

	var deadline time.Time
	if d := x.g.opts.ResponseHeaderTimeout; d > 0 {
		deadline = time.Now().Add(d)
	}
	if err := c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(c)
	for {
		if err := resp.Header.Read(br); err != nil {
			releaseReader(br)
			return nil, err
		}
		if code := resp.Header.StatusCode(); code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			return br, nil
		}
	}
}

func releaseReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

// writeBody copies a request body to the service: as is with a known
// length, re-chunked (one chunk per read, flushed, so uploads stream)
// without one.
func writeBody(bw *bufio.Writer, b *reqBody) error {
	if b.n >= 0 {
		n, err := io.CopyN(bw, b, b.n)
		if err == io.EOF && n < b.n {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for {
		n, err := b.Read(*buf)
		if n > 0 {
			if err := writeChunk(bw, (*buf)[:n]); err != nil {
				return err
			}
		}
		if err == io.EOF {
			_, err = bw.WriteString("0\r\n\r\n")
			return err
		}
		if err != nil {
			return err
		}
	}
}

func writeChunk(bw *bufio.Writer, p []byte) error {
	var hex [16]byte
	i := len(hex)
	for n := len(p); ; n >>= 4 {
		i--
		hex[i] = "0123456789abcdef"[n&15]
		if n < 16 {
			break
		}
	}
	bw.Write(hex[i:])
	bw.WriteString("\r\n")
	bw.Write(p)
	bw.WriteString("\r\n")
	return bw.Flush()
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// drop closes a connection that cannot be reused.
func (x *exchange) drop(c net.Conn) {
	x.setConn(nil)
	c.Close()
}

// releaseSpent is release for a connection whose response has been read
// whole: one the service keeps open goes back to the pool at once, and one
// it closed is closed only after the response went out (finish), so that
// the close is not paid for before the client has its answer.
func (x *exchange) releaseSpent(c *upConn, reuse bool) {
	if reuse {
		x.release(c, true)
		return
	}
	x.setConn(nil)
	x.spent = c
}

// release ends the exchange's use of c: back to the pool when the response
// was read to its end on a connection the service keeps open.
func (x *exchange) release(c *upConn, reuse bool) {
	x.setConn(nil)
	if reuse && x.up != nil {
		// Its read deadline may stay: the next exchange sets its own.
		x.up.put(c)
		return
	}
	c.Close()
}
