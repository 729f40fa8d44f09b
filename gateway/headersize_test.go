package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// Request heads beyond MaxHeaderBytes get 431, not a service's time.
func TestHeaderSizeLimit(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{MaxHeaderBytes: 8 << 10}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": echo("web")})
		if res, body := h.get("/", "X-Big", strings.Repeat("a", 4<<10)); res.StatusCode != 200 || body != "web /" {
			t.Errorf("a head within the limit: %d %q", res.StatusCode, body)
		}
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/", nil)
		// Several fields, none too long alone: over HTTP/2 a single string
		// beyond the limit is a compression error for the connection.
		for i := range 8 {
			req.Header.Set("X-Big-"+strconv.Itoa(i), strings.Repeat("a", 2<<10))
		}
		res, err := h.client().Do(req)
		if v == viaH2 && err != nil && strings.Contains(err.Error(), "header list larger than peer's advertised limit") {
			return // HTTP/2 advertises the limit, and Go's client enforces it itself
		}
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a head beyond the limit: %d, want 431", res.StatusCode)
		}
	})
}
