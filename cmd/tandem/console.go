package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/tandem-dev/tandem/internal/logwriter"
	"github.com/tandem-dev/tandem/supervisor"
)

// console prints the interleaved output of every service as docker compose
// up does, "api  | line", one colour per service on a terminal, and tandem's
// own messages as "tandem | ...".
type console struct {
	mu     sync.Mutex
	w      *logwriter.Writer
	color  bool
	width  int
	colors map[string]string
}

// Colours of docker compose's log prefixes, in its order.
var palette = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

// Lines are buffered briefly (a service may print one per request); flush
// writes what is held.
func newConsole(w io.Writer, services []string) *console {
	c := &console{w: logwriter.New(w), color: isTerminal(w) && os.Getenv("NO_COLOR") == "", width: len("tandem"), colors: map[string]string{}}
	for i, s := range services {
		c.width = max(c.width, len(s))
		c.colors[s] = palette[i%len(palette)]
	}
	return c
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (c *console) prefix(name string) string {
	p := fmt.Sprintf("%-*s |", c.width, name)
	if !c.color {
		return p
	}
	code := c.colors[name]
	if name == "tandem" {
		code = "1"
	}
	return "\x1b[" + code + "m" + p + "\x1b[0m"
}

func (c *console) flush() { c.w.Flush() }

// line prints one line of a service's output.
func (c *console) line(l supervisor.Line) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%s %s\n", c.prefix(l.Service), l.Text)
}

// say prints tandem's own message.
func (c *console) say(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintf(c.w, "%s %s\n", c.prefix("tandem"), l)
	}
}

// writer is an io.Writer that prints whole lines as name's output: for
// build steps, whose output is not a service's.
func (c *console) writer(name string) *prefixWriter {
	return &prefixWriter{c: c, name: name}
}

type prefixWriter struct {
	c    *console
	name string
	buf  []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		p.c.line(supervisor.Line{Service: p.name, Text: strings.TrimRight(string(p.buf[:i]), "\r")})
		p.buf = p.buf[i+1:]
	}
}

// Flush prints a last line that had no newline.
func (p *prefixWriter) Flush() {
	if len(p.buf) > 0 {
		p.c.line(supervisor.Line{Service: p.name, Text: string(p.buf)})
		p.buf = nil
	}
}

// consoleHandler shows tandem's warnings and errors on the console: a
// service's exit comes with the tail of its output.
type consoleHandler struct {
	c     *console
	attrs []slog.Attr
}

func (h *consoleHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *consoleHandler) Handle(_ context.Context, r slog.Record) error {
	var service, tail, errText string
	var code int64
	var extra []string
	each := func(a slog.Attr) bool {
		switch a.Key {
		case "service":
			service = a.Value.String()
		case "tail":
			tail = a.Value.String()
		case "code":
			code = a.Value.Int64()
		case "err":
			errText = a.Value.String()
		case "instance":
		default:
			extra = append(extra, a.Key+"="+a.Value.String())
		}
		return true
	}
	for _, a := range h.attrs {
		each(a)
	}
	r.Attrs(each)
	switch {
	case r.Message == "service exited" && tail != "":
		h.c.say("%s exited with code %d; its last lines:\n%s", service, code, indent(tail))
	case errText != "" && service != "":
		h.c.say("%s: %s", service, errText)
	case errText != "":
		h.c.say("%s: %s", r.Message, errText)
	default:
		h.c.say("%s %s", r.Message, strings.Join(extra, " "))
	}
	return nil
}

func (h *consoleHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &consoleHandler{c: h.c, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *consoleHandler) WithGroup(string) slog.Handler { return h }

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
