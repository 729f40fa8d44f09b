package gateway

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// stepper writes one line, flushes, and writes the next only once the test
// has read the previous one: a proxy that buffers never delivers the first
// line, and the test fails instead of passing by luck.
type stepper struct {
	contentType string
	lines       []string
	next        chan struct{}
}

func (s *stepper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.contentType != "" {
		w.Header().Set("Content-Type", s.contentType)
	}
	for i, line := range s.lines {
		if i > 0 {
			select {
			case <-s.next:
			case <-time.After(10 * time.Second):
				return // the test has failed already
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, line)
		http.NewResponseController(w).Flush()
	}
}

func readSteps(t *testing.T, h *harness, path string, s *stepper, acceptEncoding string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.URL+path, nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	// Even the headers must come before the service has finished.
	type result struct {
		res *http.Response
		err error
	}
	rc := make(chan result, 1)
	go func() {
		res, err := h.client().Do(req)
		rc <- result{res, err}
	}()
	var res *http.Response
	select {
	case r := <-rc:
		if r.err != nil {
			t.Fatal(r.err)
		}
		res = r.res
	case <-time.After(3 * time.Second):
		t.Fatal("no response headers while the service waited: the gateway buffers")
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	for i, want := range s.lines {
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			got <- line
		}()
		select {
		case line := <-got:
			if line != want {
				t.Fatalf("line %d = %q, want %q", i, line, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("line %d did not arrive while the service waited: the gateway buffers", i)
		}
		if i < len(s.lines)-1 {
			select {
			case s.next <- struct{}{}:
			case <-time.After(3 * time.Second):
				t.Fatalf("the service stopped waiting after line %d", i)
			}
		}
	}
	return res
}

func streamHarness(t *testing.T, v via, s http.Handler) *harness {
	return newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": s})
}

// Next.js streams server-rendered HTML in chunks (React Suspense).
func TestStreamingChunked(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		s := &stepper{contentType: "text/html; charset=utf-8", lines: []string{"<html><body>shell\n", "<div>suspended part</div>\n", "</body></html>\n"}, next: make(chan struct{})}
		h := streamHarness(t, v, s)
		res := readSteps(t, h, "/search/", s, "")
		if te := res.TransferEncoding; v != viaH2 && (len(te) != 1 || te[0] != "chunked") {
			t.Errorf("Transfer-Encoding %v, want chunked", te)
		}
	})
}

// Server-sent events arrive event by event, and are never compressed even
// when the browser accepts gzip.
func TestStreamingEventStream(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		s := &stepper{contentType: "text/event-stream", lines: []string{"data: one\n", "\n", "data: two\n"}, next: make(chan struct{})}
		h := streamHarness(t, v, s)
		res := readSteps(t, h, "/events", s, "gzip, deflate, br")
		if ce := res.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("Content-Encoding %q: the gateway compressed an event stream", ce)
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type %q", ct)
		}
	})
}

// An upload reaches the service as it is sent, not after it has ended.
func TestStreamingRequestBody(t *testing.T) {
	first := make(chan string, 1)
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("reading the first part: %v", err)
			return
		}
		first <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, string(buf)+string(rest))
	})
	eachPath(t, func(t *testing.T, v via) {
		h := streamHarness(t, v, svc)

		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/upload", pr)
		done := make(chan string, 1)
		go func() {
			res, body := h.do(req)
			done <- res.Status + " " + body
		}()
		_, _ = io.WriteString(pw, "part1")
		select {
		case got := <-first:
			if got != "part1" {
				t.Fatalf("service read %q", got)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the service did not get the first part while the upload went on: the gateway buffers request bodies")
		}
		_, _ = io.WriteString(pw, "-part2")
		pw.Close()
		if got := <-done; got != "200 OK part1-part2" {
			t.Errorf("response %q", got)
		}
	})
}

// The gateway neither asks services for gzip nor changes what the browser
// asked for.
func TestNoCompressionAdded(t *testing.T) {
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "accept-encoding="+strings.Join(r.Header.Values("Accept-Encoding"), ","))
	})
	eachPath(t, func(t *testing.T, v via) {
		h := streamHarness(t, v, svc)

		req, _ := http.NewRequest(http.MethodGet, h.URL+"/", nil)
		tr := h.transport()
		tr.DisableCompression = true // sends no Accept-Encoding
		res, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "accept-encoding=" || res.Header.Get("Content-Encoding") != "" {
			t.Errorf("without Accept-Encoding: %q, Content-Encoding %q", b, res.Header.Get("Content-Encoding"))
		}

		if _, body := h.get("/", "Accept-Encoding", "br"); body != "accept-encoding=br" {
			t.Errorf("with Accept-Encoding br: %q", body)
		}
	})
}

// A service that sends its headers and then waits for its first event has
// answered: the client gets the head at once (an EventSource opens), as
// nginx passes it on, not with the first event.
func TestStreamHeadGoesOutBeforeTheFirstEvent(t *testing.T) {
	first := make(chan struct{})
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-first:
			io.WriteString(w, "data: one\n\n")
		case <-r.Context().Done():
		}
	})
	forPaths(t, allPaths, func(t *testing.T, v via) {
		h := streamHarness(t, v, svc)
		got := make(chan *http.Response, 1)
		go func() {
			res, err := h.client().Get(h.URL + "/events")
			if err != nil {
				t.Error(err)
				close(got)
				return
			}
			got <- res
		}()
		select {
		case res := <-got:
			if res == nil {
				return
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
				t.Errorf("head: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
			first <- struct{}{}
			if line, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil || line != "data: one\n" {
				t.Errorf("first event: %q %v", line, err)
			}
		case <-time.After(5 * time.Second):
			t.Error("no head 5 s after the service sent it")
			first <- struct{}{}
			<-got
		}
	})
}
