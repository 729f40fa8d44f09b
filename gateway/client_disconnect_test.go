package gateway

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// A browser that navigates away is not an error: the access log says 499
// (nginx's "client closed request"), nothing is logged as a failure, and
// the service's request is canceled too.
func TestClientDisconnectBeforeResponse(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		arrived, canceled := make(chan struct{}), make(chan struct{})
		slow := slowHandler(arrived, canceled)
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute}, map[string]http.Handler{"api:8000": slow})

		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+"/api/report/", nil)
		go func() {
			<-arrived
			cancel()
		}()
		if _, err := h.client().Do(req); err == nil {
			t.Fatal("request succeeded after cancel")
		}
		select {
		case <-canceled:
		case <-time.After(5 * time.Second):
			t.Error("the service's request was not canceled")
		}
		wantQuiet499(t, h, "/api/report/")
	})
}

// A client that leaves while the gateway is still connecting to the
// service ends the dial too: it does not wait out the dial timeout.
func TestClientDisconnectDuringDial(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{DialTimeout: time.Minute}, []tandem.Route{apiRoute}, nil)
		h.setAddr("api:8000", "hang")
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for h.hanging.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+"/api/slow/", nil)
		if _, err := h.client().Do(req); err == nil {
			t.Fatal("request succeeded after cancel")
		}
		for deadline := time.Now().Add(5 * time.Second); h.hanging.Load() > 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the dial still waits after the client left")
			}
		}
		wantQuiet499(t, h, "/api/slow/")
	})
}

// The same when the client leaves halfway through a streamed response.
func TestClientDisconnectMidStream(t *testing.T) {
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for {
			if _, err := io.WriteString(w, "data: tick\n\n"); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": stream})

		res, err := h.client().Get(h.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil || line != "data: tick\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		res.Body.Close() // mid-stream: closes the connection
		wantQuiet499(t, h, "/events")
	})
}

// slowHandler never answers: it reports the request's arrival and its
// cancellation.
func slowHandler(arrived, canceled chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	})
}

func wantQuiet499(t *testing.T, h *harness, path string) {
	t.Helper()
	rec := h.logs.wait(t, path)
	if rec["status"] != int64(StatusClientClosedRequest) || rec["level"] != "INFO" || rec["error"] != nil {
		t.Errorf("access record %v, want status 499 at INFO without error", rec)
	}
	for _, r := range h.logs.all() {
		if r["msg"] != "request" {
			t.Errorf("logged %v", r)
		}
	}
}
