package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-dev/tandem"
)

// A page the stack's loader read is served as it was read: the gateway
// does not open the path, which a pull request's build may have pointed at
// /etc/shadow since.
func TestErrorPageBody(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		file := filepath.Join(t.TempDir(), "503.html")
		if err := os.WriteFile(file, []byte("root:$y$SECRET"), 0o644); err != nil {
			t.Fatal(err)
		}
		web := webRoute
		web.ErrorPage, web.ErrorPageBody = file, "<h1>Back soon</h1>"
		h := newHarness(t, v, Options{}, []tandem.Route{web}, nil)
		h.setReady(func(service string) error { return errors.New(service + " is stopped") })
		if res, body := h.get("/"); res.StatusCode != 503 || body != "<h1>Back soon</h1>" {
			t.Errorf("got %d %q", res.StatusCode, body)
		}
	})
}
