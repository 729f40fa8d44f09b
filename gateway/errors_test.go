package gateway

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// wantJSON checks the API error envelope, byte for byte.
func wantJSON(t *testing.T, res *http.Response, body string, status int, msg string) {
	t.Helper()
	want := `{"status":"error","data":null,"error":"` + msg + `"}`
	if res.StatusCode != status || res.Header.Get("Content-Type") != "application/json" || body != want {
		t.Errorf("got %d %s %s\nwant %d application/json %s", res.StatusCode, res.Header.Get("Content-Type"), body, status, want)
	}
}

// wantHTML checks the built-in page: friendly, and silent about addresses.
func wantHTML(t *testing.T, h *harness, res *http.Response, body string, status int, want ...string) {
	t.Helper()
	if res.StatusCode != status || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("got %d %s, want %d text/html", res.StatusCode, res.Header.Get("Content-Type"), status)
	}
	contains(t, body, append(want, "<title>", "Try again in a few seconds")...)
	for _, secret := range []string{"127.0.0.1", ":3000", ":8000", "dial"} {
		if strings.Contains(body, secret) {
			t.Errorf("error page shows %q:\n%s", secret, body)
		}
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
}

func errorsHarness(t *testing.T, v via, opts Options) (*harness, *atomic.Int32) {
	var calls atomic.Int32
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte("ok"))
	})
	h := newHarness(t, v, opts, []tandem.Route{apiRoute, webRoute}, map[string]http.Handler{"api:8000": svc, "web:3000": svc})
	return h, &calls
}

func TestNotReady(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h, calls := errorsHarness(t, v, Options{})
		h.setReady(func(service string) error {
			if service == "api" {
				return &tandem.Error{Code: tandem.EUNAVAILABLE, Message: "api is starting", Err: errors.New("pid 4242 in /run/tandem/ns/local")}
			}
			return errors.New("web is not running (exit status 1)")
		})

		res, body := h.get("/api/users/")
		wantJSON(t, res, body, http.StatusServiceUnavailable, "api is starting")
		res, body = h.get("/search/")
		wantHTML(t, h, res, body, http.StatusServiceUnavailable, "web is not available right now", "web is not running (exit status 1).")
		if n := calls.Load(); n != 0 {
			t.Errorf("a service that is not ready was called %d times", n)
		}

		h.setReady(func(string) error { return nil })
		if res, body := h.get("/api/"); res.StatusCode != 200 || body != "ok" {
			t.Errorf("once ready: %d %q", res.StatusCode, body)
		}
	})
}

func TestConnectionRefused(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h, _ := errorsHarness(t, v, Options{})
		h.setAddr("api:8000", refusedAddr(t))
		h.setAddr("web:3000", refusedAddr(t))

		start := time.Now()
		res, body := h.get("/api/")
		wantJSON(t, res, body, http.StatusServiceUnavailable, "api is not accepting connections")
		res, body = h.get("/")
		wantHTML(t, h, res, body, http.StatusServiceUnavailable, "web is not available right now", "web is not accepting connections.")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("refused connections took %v to report", d)
		}
		if rec := h.logs.wait(t, "/api/"); rec["level"] != "WARN" || rec["error"] == nil || rec["status"] != int64(503) {
			t.Errorf("access record %v, want a warning with the error", rec)
		}
	})
}

func TestDialTimeout(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h, _ := errorsHarness(t, v, Options{DialTimeout: 100 * time.Millisecond})
		h.setAddr("api:8000", "hang")
		h.setAddr("web:3000", "hang")

		res, body := h.get("/api/")
		wantJSON(t, res, body, http.StatusGatewayTimeout, "api did not accept the connection in time")
		res, body = h.get("/")
		wantHTML(t, h, res, body, http.StatusGatewayTimeout, "web is not available right now", "web did not accept the connection in time.")
	})
}

func TestResponseHeaderTimeout(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{ResponseHeaderTimeout: 100 * time.Millisecond}, []tandem.Route{apiRoute}, map[string]http.Handler{"api:8000": slow})
		res, body := h.get("/api/")
		wantJSON(t, res, body, http.StatusGatewayTimeout, "api did not answer in time")
	})
}

// A service that accepts the connection and drops it without answering
// (it crashed mid-request) is nginx's 502.
func TestBadGateway(t *testing.T) {
	crash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute}, map[string]http.Handler{"api:8000": crash})
		res, body := h.get("/api/")
		wantJSON(t, res, body, http.StatusBadGateway, "api did not send a valid response")
	})
}

// A service's own errors are the application's answer: passed unchanged,
// never replaced by the gateway's pages.
func TestServiceErrorsPassThrough(t *testing.T) {
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing/":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-Id", "r-1")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":"error","data":null,"error":"no such user"}`))
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("<h1>Server Error (500)</h1>"))
		}
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute, webRoute}, map[string]http.Handler{"api:8000": svc, "web:3000": svc})

		res, body := h.get("/api/missing/")
		if res.StatusCode != 404 || res.Header.Get("X-Request-Id") != "r-1" || body != `{"status":"error","data":null,"error":"no such user"}` {
			t.Errorf("404 from the service became %d %v %s", res.StatusCode, res.Header, body)
		}
		res, body = h.get("/api/boom/")
		if res.StatusCode != 500 || res.Header.Get("Content-Type") != "text/html" || body != "<h1>Server Error (500)</h1>" {
			t.Errorf("500 from the service became %d %v %s", res.StatusCode, res.Header, body)
		}
	})
}

// A route's ErrorPage replaces the built-in page; it is read once per Set.
func TestErrorPage(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		file := filepath.Join(t.TempDir(), "503.html")
		if err := os.WriteFile(file, []byte("<h1>Back soon</h1>"), 0o644); err != nil {
			t.Fatal(err)
		}
		web := webRoute
		web.ErrorPage = file
		api := apiRoute
		api.ErrorPage = file // JSON routes keep the envelope
		h := newHarness(t, v, Options{}, []tandem.Route{api, web}, nil)
		down := func(service string) error { return errors.New(service + " is stopped") }
		h.setReady(down)

		res, body := h.get("/")
		if res.StatusCode != 503 || body != "<h1>Back soon</h1>" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("got %d %q", res.StatusCode, body)
		}
		res, body = h.get("/api/")
		wantJSON(t, res, body, 503, "api is stopped")

		if err := os.WriteFile(file, []byte("<h1>Changed</h1>"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, body := h.get("/"); body != "<h1>Back soon</h1>" {
			t.Errorf("the page was read again before Set: %q", body)
		}
		h.setReady(down)
		if _, body := h.get("/"); body != "<h1>Changed</h1>" {
			t.Errorf("after Set: %q", body)
		}

		// A page that cannot be read falls back to the built-in one, with a warning.
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		h.setReady(down)
		res, body = h.get("/")
		wantHTML(t, h, res, body, 503, "web is not available right now")
		warned := false
		for _, r := range h.logs.all() {
			warned = warned || r["msg"] == "error page not readable; serving the built-in page"
		}
		if !warned {
			t.Error("no warning about the unreadable error page")
		}
	})
}

func TestNothingServed(t *testing.T) {
	g := New(Options{})
	res := serveOnce(g, "/")
	if res.Code != http.StatusServiceUnavailable {
		t.Errorf("before Set: %d, want 503", res.Code)
	}
	g.Set(nil)
	if res := serveOnce(g, "/"); res.Code != http.StatusNotFound {
		t.Errorf("after Set(nil): %d, want 404", res.Code)
	}
}
