package gateway

import (
	"net/http"
	"testing"
	"time"
)

// A service whose connections fail MaxFails times in a row is answered at
// once with 503 for FailTimeout, without a dial each; then one request
// tries it again, and a success brings it back.
func TestPassiveHealth(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h, _ := errorsHarness(t, v, Options{MaxFails: 3, FailTimeout: 300 * time.Millisecond})
		working := h.addr["api:8000"]
		h.setAddr("api:8000", refusedAddr(t))
		for range 3 {
			res, body := h.get("/api/")
			wantJSON(t, res, body, http.StatusServiceUnavailable, "api is not accepting connections")
		}
		dials := h.dialCount()
		start := time.Now()
		res, body := h.get("/api/")
		wantJSON(t, res, body, http.StatusServiceUnavailable, "api is unavailable after repeated connection failures")
		if n := h.dialCount(); n != dials {
			t.Errorf("%d dials to a service marked down", n-dials)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the fast 503 took %v", d)
		}
		if res, body := h.get("/"); res.StatusCode != 200 || body != "ok" {
			t.Errorf("another service of the site: %d %q", res.StatusCode, body)
		}

		// The cooldown ends with the service still down: one trial, and it
		// is marked down again at once.
		time.Sleep(350 * time.Millisecond)
		res, body = h.get("/api/")
		wantJSON(t, res, body, http.StatusServiceUnavailable, "api is not accepting connections")
		res, body = h.get("/api/")
		wantJSON(t, res, body, http.StatusServiceUnavailable, "api is unavailable after repeated connection failures")

		// Back up: after the cooldown the trial succeeds and all is well.
		h.setAddr("api:8000", working)
		time.Sleep(350 * time.Millisecond)
		for range 3 {
			if res, body := h.get("/api/"); res.StatusCode != 200 || body != "ok" {
				t.Fatalf("after recovery: %d %q", res.StatusCode, body)
			}
		}
	})
}

// A negative MaxFails never marks a service down.
func TestPassiveHealthOff(t *testing.T) {
	h, _ := errorsHarness(t, viaH1, Options{MaxFails: -1})
	h.setAddr("api:8000", refusedAddr(t))
	for range 5 {
		res, body := h.get("/api/")
		wantJSON(t, res, body, http.StatusServiceUnavailable, "api is not accepting connections")
	}
}
