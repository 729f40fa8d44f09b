package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// A chunked response whose last data and terminating chunk arrive
// together (net/http writes a page of more than 2 KiB that way) must end:
// the decoder hands back the last bytes with io.EOF at once, and reading
// again must not wait for a trailer that was read already.
func TestChunkedResponseEnds(t *testing.T) {
	page := "<!doctype html>" + strings.Repeat("<p>a line of the page</p>", 400)
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{{Path: "/", Service: "web", Port: 3000}}, map[string]http.Handler{
			"web:3000": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, page) // one write, past net/http's buffer: one chunk, then the end
			}),
		})
		for i := 0; i < 3; i++ { // and the connection to the service is reused
			res, body := h.get("/page")
			if res.StatusCode != http.StatusOK || body != page {
				t.Fatalf("request %d: %d, %d bytes of %d", i, res.StatusCode, len(body), len(page))
			}
		}
	})
}
