package gateway

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// newTransport returns the transport of one site, kept while the site is.
func (g *Gateway) newTransport(s *Site) *http.Transport {
	dial := s.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	timeout := g.opts.DialTimeout
	header := max(g.opts.ResponseHeaderTimeout, 0) // negative: no limit
	return &http.Transport{
		// Proxy stays nil: an HTTP_PROXY in the environment must not catch
		// requests meant for services inside the instance.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		ForceAttemptHTTP2:     false, // services speak HTTP/1.1 (and upgrade to WebSocket)
		MaxIdleConnsPerHost:   g.opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       g.opts.IdleConnTimeout,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
		// The client's Accept-Encoding goes through as sent; the transport
		// must neither add gzip nor decompress behind the client's back.
		DisableCompression: true,
	}
}

// dialError marks a failure to connect, as opposed to a failure of a
// connection that was made: the first means the service is not there (503,
// or 504 on timeout), the second that it broke the exchange (502).
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// bufferPool is the httputil.BufferPool shared by every route: one 32 KiB
// copy buffer per response in flight, not one per response.
type bufferPool struct{ pool sync.Pool }

const bufferSize = 32 << 10

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, bufferSize)
}

func (p *bufferPool) Put(b []byte) {
	if cap(b) == bufferSize {
		b = b[:bufferSize]
		p.pool.Put(&b)
	}
}
