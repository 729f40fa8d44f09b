package gateway

import (
	"errors"
	"io"
	"math"

	"github.com/valyala/fasthttp"
)

// errMalformedBody: the client's request body does not follow its own
// framing. The gateway answers 400 and closes the connection, as nginx does.
var errMalformedBody = errors.New("malformed request body")

// Limits of a chunked body's control lines, well above what any client sends.
const (
	maxChunkLine    = 4 << 10  // a chunk-size line with its extensions
	maxTrailerBytes = 16 << 10 // the trailer section, which is not forwarded
)

// chunkedBody decodes a chunked request body on the fasthttp path, strictly
// (RFC 9112 section 7.1): a size of hex digits that fits in 63 bits, then
// only whitespace and ";" extensions before CRLF, CRLF after each chunk's
// data, no bare LF anywhere. fasthttp's own decoder skips whatever follows a
// size up to CR, so "0x5" ends the body there, and can wait forever on a
// malformed trailer: a proxy must not frame a body differently from the
// one behind it, nor hang on one.
//
// It reads the bytes exactly as the client sent them and never past the
// body's end, so the connection serves the next request as usual.
type chunkedBody struct {
	h       *fasthttp.RequestHeader
	stream  io.Reader // fasthttp's request stream, read raw (see Read)
	left    int64     // data bytes left in the current chunk
	trailer int       // trailer bytes read so far
	done    bool
	err     error
	one     [1]byte
}

func newChunkedBody(h *fasthttp.RequestHeader, stream io.Reader) *chunkedBody {
	return &chunkedBody{h: h, stream: stream}
}

// Read returns the body's data. fasthttp's request stream hands out the
// connection's bytes as they are while the header gives the body a length,
// so the header says so during each read, and "chunked" again after it
// (TestChunkedValid fails if fasthttp stops working that way).
func (c *chunkedBody) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.err != nil {
		return 0, c.err
	}
	c.h.SetContentLength(math.MaxInt)
	n, err := c.read(p)
	c.h.SetContentLength(-1)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func (c *chunkedBody) read(p []byte) (int, error) {
	if c.left == 0 {
		size, err := c.sizeLine()
		if err != nil {
			return 0, err
		}
		if size == 0 {
			if err := c.trailerSection(); err != nil {
				return 0, err
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = size
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.stream.Read(p)
	c.left -= int64(n)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	if err == nil && c.left == 0 {
		err = c.crlf()
	}
	return n, err
}

// byte reads one byte of a control line. Truncation is io.ErrUnexpectedEOF.
func (c *chunkedBody) byte() (byte, error) {
	for {
		n, err := c.stream.Read(c.one[:])
		if n == 1 {
			return c.one[0], nil
		}
		if err == io.EOF {
			return 0, io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, err
		}
	}
}

// crlf reads the CRLF that ends a line.
func (c *chunkedBody) crlf() error {
	b, err := c.byte()
	if err != nil {
		return err
	}
	return c.lf(b)
}

// lf checks that b, just read, is CR and reads the LF after it.
func (c *chunkedBody) lf(b byte) error {
	if b != '\r' {
		return errMalformedBody
	}
	b, err := c.byte()
	if err != nil {
		return err
	}
	if b != '\n' {
		return errMalformedBody
	}
	return nil
}

// sizeLine reads "1*HEXDIG *(BWS ";" ext) CRLF" and returns the size.
func (c *chunkedBody) sizeLine() (int64, error) {
	var size int64
	digits := 0
	for i := 0; i < maxChunkLine; i++ {
		b, err := c.byte()
		if err != nil {
			return 0, err
		}
		if v, ok := hexValue(b); ok && digits == i {
			if size > math.MaxInt64>>4 {
				return 0, errMalformedBody // overflow
			}
			size = size<<4 | int64(v)
			digits++
			continue
		}
		switch {
		case digits == 0:
			return 0, errMalformedBody // " 5", "-5", "zz"
		case b == ' ' || b == '\t':
			// BWS before an extension (or, as nginx and net/http allow, before CRLF)
		case b == ';':
			return size, c.extensions()
		default:
			return size, c.lf(b) // "0x5" fails here
		}
	}
	return 0, errMalformedBody
}

// extensions skips chunk extensions up to CRLF: they mean nothing to the
// gateway, which re-chunks the body, but may hold no control bytes.
func (c *chunkedBody) extensions() error {
	for i := 0; i < maxChunkLine; i++ {
		b, err := c.byte()
		if err != nil {
			return err
		}
		if b == '\r' {
			return c.lf(b)
		}
		if b < ' ' && b != '\t' || b == 0x7f {
			return errMalformedBody
		}
	}
	return errMalformedBody
}

// trailerSection skips the trailer fields after the last chunk, up to the
// empty line: trailers are not forwarded.
func (c *chunkedBody) trailerSection() error {
	lineLen, colon := 0, false
	for c.trailer < maxTrailerBytes {
		b, err := c.byte()
		if err != nil {
			return err
		}
		c.trailer++
		switch {
		case b == '\r':
			if err := c.lf(b); err != nil {
				return err
			}
			if lineLen == 0 {
				return nil
			}
			if !colon {
				return errMalformedBody // not a field line
			}
			lineLen, colon = 0, false
			continue
		case b < ' ' && b != '\t' || b == 0x7f:
			return errMalformedBody // bare LF among them
		case b == ':' && lineLen > 0:
			colon = true
		}
		lineLen++
	}
	return errMalformedBody
}

func hexValue(b byte) (byte, bool) {
	switch {
	case '0' <= b && b <= '9':
		return b - '0', true
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10, true
	case 'A' <= b && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}
