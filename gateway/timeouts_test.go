package gateway

import (
	"bufio"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// The response-header timeout is for the head only: a server-sent event
// stream that goes on for longer, quiet between events, is not cut.
// (TestDialTimeout and TestResponseHeaderTimeout cover the 504s.)
func TestLongStreamNotCut(t *testing.T) {
	const events = 6
	sse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range events {
			fmt.Fprintf(w, "data: %d\n\n", i)
			_ = rc.Flush()
			time.Sleep(60 * time.Millisecond)
		}
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{ResponseHeaderTimeout: 100 * time.Millisecond}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": sse})
		res, err := h.client().Get(h.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		for i := range events {
			line, err := br.ReadString('\n')
			if want := fmt.Sprintf("data: %d\n", i); line != want || err != nil {
				t.Fatalf("event %d: %q, %v (the stream was cut)", i, line, err)
			}
			_, _ = br.ReadString('\n')
		}
	})
}
