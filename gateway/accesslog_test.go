package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

func TestAccessLog(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute}, map[string]http.Handler{"api:8000": echo("api")})
		h.get("/api/users/?q=secret-token")
		h.get("/nowhere")

		rec := h.logs.wait(t, "/api/users/")
		want := map[string]any{
			"msg": "request", "level": "INFO", "site": "local", "route": "/api/", "service": "api",
			"method": "GET", "status": int64(200), "bytes": int64(len("api /users/?q=secret-token")), "client": "127.0.0.1",
		}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("%s = %v (%T), want %v", k, rec[k], rec[k], v)
			}
		}
		if d, ok := rec["duration"].(time.Duration); !ok || d <= 0 {
			t.Errorf("duration = %v", rec["duration"])
		}
		for k, v := range rec {
			if s, ok := v.(string); ok && strings.Contains(s, "secret-token") {
				t.Errorf("%s logs the query string: %q", k, s)
			}
		}

		rec = h.logs.wait(t, "/nowhere")
		if rec["status"] != int64(404) || rec["route"] != "" || rec["service"] != "" {
			t.Errorf("404 record %v", rec)
		}
	})
}

// The record goes through the caller's handler: JSON for a log shipper.
func TestAccessLogJSON(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		var buf testutil.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, nil))
		h := newHarness(t, v, Options{Logger: logger}, []tandem.Route{apiRoute}, map[string]http.Handler{"api:8000": echo("api")})
		h.get("/api/")

		deadline := time.Now().Add(5 * time.Second)
		for buf.String() == "" && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
			t.Fatalf("%v: %s", err, buf.String())
		}
		for _, k := range []string{"time", "site", "route", "service", "method", "path", "status", "duration", "bytes", "client"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("no %q in %s", k, buf.String())
			}
		}
	})
}

func TestNoLogger(t *testing.T) {
	g := New(Options{})
	g.Set(&Table{Default: &Site{Name: "x"}})
	if res := serveOnce(g, "/"); res.Code != http.StatusNotFound {
		t.Errorf("status %d", res.Code)
	}
}
