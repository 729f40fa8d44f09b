package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// MaxRequestBodySize answers 413 for a body over it, whether its length
// is announced or it is streamed without one; bodies within it go through.
func TestRequestBodyLimit(t *testing.T) {
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %d", len(b))
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{MaxRequestBodySize: 4000}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		post := func(n int, chunked bool) int {
			t.Helper()
			var body io.Reader = strings.NewReader(strings.Repeat("x", n))
			if chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, h.URL+"/upload", body)
			res, err := h.client().Do(req)
			if err != nil {
				t.Fatalf("%d bytes (chunked %v): %v", n, chunked, err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		for _, chunked := range []bool{false, true} {
			if code := post(3000, chunked); code != 200 {
				t.Errorf("3000 bytes (chunked %v): %d", chunked, code)
			}
			if code := post(64000, chunked); code != http.StatusRequestEntityTooLarge {
				t.Errorf("64000 bytes (chunked %v): %d, want 413", chunked, code)
			}
		}
	})
}
