package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/valyala/fasthttp"
)

// body decides what to do with the body of the response whose head is in
// resp: nothing (HEAD, 1xx, 204, 304), read it whole into resp (small,
// known length), or stream it (returned).
func (x *exchange) body(c *upConn, br *bufio.Reader, resp *fasthttp.Response, head bool) (*upBody, *failure) {
	h := &resp.Header
	keepAlive := cleanResponseHeader(h)
	code := h.StatusCode()
	if head || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		if code == http.StatusSwitchingProtocols {
			// Only a tunnel asks for a 101; it takes the connection over,
			// for as long as it lasts.
			_ = c.SetReadDeadline(time.Time{})
			return &upBody{x: x, conn: c, br: br}, nil
		}
		x.releaseSpent(c, keepAlive && br.Buffered() == 0)
		releaseReader(br)
		return nil, nil
	}
	cl := h.ContentLength()
	if cl >= 0 && cl <= smallBody && !eventStream(h) {
		if err := resp.ReadBody(br, 0); err != nil {
			x.drop(c)
			releaseReader(br)
			if x.isGone() {
				return nil, x.gone499()
			}
			return nil, x.fail(failure{http.StatusBadGateway, x.route.Service + " did not send a valid response", "bad_response"}, err)
		}
		x.releaseSpent(c, keepAlive && br.Buffered() == 0)
		releaseReader(br)
		return nil, nil
	}
	// A stream may take as long as it needs once it has started: the
	// response-header timeout must not cut a long server-sent event stream.
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		x.drop(c)
		releaseReader(br)
		return nil, x.fail(failure{http.StatusBadGateway, x.route.Service + " did not send a valid response", "reset"}, err)
	}
	b := &upBody{x: x, conn: c, br: br, keepAlive: keepAlive, left: int64(cl)}
	switch {
	case cl >= 0:
		b.mode = bodyFixed
	case cl == -1:
		b.mode = bodyChunked
		b.chunks = httputil.NewChunkedReader(br)
	default: // no length: until the service closes the connection
		b.mode = bodyUntilClose
		b.keepAlive = false
	}
	return b, nil
}

func eventStream(h *fasthttp.ResponseHeader) bool {
	return bytes.HasPrefix(h.ContentType(), []byte("text/event-stream"))
}

const (
	bodyFixed = iota
	bodyChunked
	bodyUntilClose
)

// upBody streams a response body from a service. Its Read feeds the
// client's writer; CloseWithError (fasthttp calls it once the body is
// written, with the write's error) ends the exchange.
type upBody struct {
	x         *exchange
	conn      *upConn
	br        *bufio.Reader
	mode      int
	left      int64     // bodyFixed: bytes still to come
	chunks    io.Reader // bodyChunked: the decoder
	keepAlive bool
	eof       bool  // read to its end
	readErr   error // the service's side failed
	closed    bool
}

func (b *upBody) Read(p []byte) (n int, err error) {
	if b.eof {
		// The decoder may hand back the last bytes with io.EOF; a read
		// after it must not look for a trailer that is read already.
		return 0, io.EOF
	}
	switch b.mode {
	case bodyFixed:
		if b.left <= 0 {
			b.eof = true
			return 0, io.EOF
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err = b.br.Read(p)
		b.left -= int64(n)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	case bodyChunked:
		n, err = b.chunks.Read(p)
		if err == io.EOF {
			if err = skipTrailer(b.br); err == nil {
				b.eof = true
				err = io.EOF
			}
		}
	default:
		n, err = b.br.Read(p)
		if err == io.EOF {
			b.eof = true
		}
	}
	b.x.bytes += int64(n)
	if err != nil && err != io.EOF && b.readErr == nil {
		b.readErr = err
	}
	return n, err
}

// CloseWithError ends the exchange. writeErr is the error writing to the
// client: it has left (499), unless reading from the service failed first.
func (b *upBody) CloseWithError(writeErr error) error {
	if b.closed {
		return nil
	}
	b.closed = true
	x := b.x
	switch {
	case x.isGone():
		x.status = StatusClientClosedRequest
	case b.readErr != nil:
		x.err = errAborted
		x.kind = "reset"
	case writeErr != nil && !errors.Is(writeErr, errBodyDone):
		x.status = StatusClientClosedRequest
	}
	x.release(b.conn, b.eof && b.keepAlive && b.br.Buffered() == 0)
	releaseReader(b.br)
	x.finish()
	return nil
}

// errBodyDone is no error: the response ended before its body (a tunnel's
// 101 relayed as is).
var errBodyDone = errors.New("body not sent")

// skipTrailer reads the trailer section after a chunked body's last chunk
// (trailers are not forwarded) up to its empty line.
func skipTrailer(br *bufio.Reader) error {
	for i := 0; i < 64; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return nil
		}
	}
	return errors.New("too many trailer lines")
}
