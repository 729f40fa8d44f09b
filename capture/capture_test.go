package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// chromium finds the browser the way the other browser tests do.
func chromium(t *testing.T) string {
	if p := os.Getenv("TANDEM_CHROMIUM"); p != "" {
		return p
	}
	if p := FindChromium(); p != "" {
		return p
	}
	t.Skip("no Chromium")
	return ""
}

const page = `<!doctype html>
<html><head><title>Capture me</title>
<style>body { margin: 0; font: 20px sans-serif } .tall { height: 2400px; background: linear-gradient(#fff, #036) }</style></head>
<body><h1>Hello capture</h1>
<ul><li>First article</li><li>Second article</li></ul>
<img src="/dot.png" width="40" height="40">
<img src="http://127.0.0.1:%[1]s/leak.png">
<img src="http://elsewhere.test:%[1]s/leak.png">
<p id="late">…</p>
<div class="tall"></div>
<script>fetch("/api/data").then(r => r.json()).then(d => { document.getElementById("late").textContent = d.text })</script>
</body></html>`

// site is the page and what it was asked for.
type site struct {
	mu      sync.Mutex
	hits    map[string]int
	cookies []string
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.Host+r.URL.Path]++
	if r.URL.Path == "/" {
		s.cookies = append(s.cookies, r.Header.Get("Cookie"))
	}
	s.mu.Unlock()
	_, port, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
	switch r.URL.Path {
	case "/":
		http.SetCookie(w, &http.Cookie{Name: "app_session", Value: "app-secret-value", Path: "/"})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, page, port)
	case "/dot.png":
		img := image.NewRGBA(image.Rect(0, 0, 4, 4))
		for i := range img.Pix {
			img.Pix[i] = 200
		}
		w.Header().Set("Content-Type", "image/png")
		png.Encode(w, img)
	case "/api/data":
		time.Sleep(200 * time.Millisecond) // the page is not done at its load event
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"text": "Loaded from the API"}`))
	default:
		http.NotFound(w, r)
	}
}

func TestCapture(t *testing.T) {
	path := chromium(t)
	s := &site{hits: map[string]int{}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	b := &Browser{Path: path}
	res, err := b.Capture(context.Background(), Page{
		URL:      "http://review.test:" + port + "/",
		Resolve:  srv.Listener.Addr().String(),
		Cookies:  []*http.Cookie{{Name: "tandem_session", Value: "tdms_the-reviewers-secret", HttpOnly: true}},
		Viewport: tandem.Viewport{Width: 1024, Height: 600},
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a real render of the whole page", func(t *testing.T) {
		img, err := png.Decode(bytes.NewReader(res.PNG))
		if err != nil {
			t.Fatalf("not a PNG: %v", err)
		}
		bounds := img.Bounds()
		if bounds.Dx() != 1024 || bounds.Dy() < 2400 {
			t.Errorf("the screenshot is %v: want the viewport's width and the page's full height", bounds)
		}
		colors := map[color.RGBA]bool{}
		for y := bounds.Min.Y; y < bounds.Max.Y; y += 7 {
			for x := bounds.Min.X; x < bounds.Max.X; x += 7 {
				r, g, b, _ := img.At(x, y).RGBA()
				colors[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0}] = true
			}
		}
		if len(colors) < 20 {
			t.Errorf("%d colors: a blank page?", len(colors))
		}
	})

	t.Run("the text once the page's own requests are done", func(t *testing.T) {
		for _, want := range []string{"Hello capture", "Second article", "Loaded from the API"} {
			if !strings.Contains(res.Text, want) {
				t.Errorf("text lacks %q: %q", want, res.Text)
			}
		}
		if res.Title != "Capture me" || res.Status != 200 {
			t.Errorf("title %q, status %d", res.Title, res.Status)
		}
	})

	t.Run("the session reached the page, and never the HAR", func(t *testing.T) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.cookies) != 1 || !strings.Contains(s.cookies[0], "tandem_session=tdms_the-reviewers-secret") {
			t.Errorf("cookies the page got: %q", s.cookies)
		}
		for _, secret := range []string{"tdms_the-reviewers-secret", "app-secret-value"} {
			if bytes.Contains(res.HAR, []byte(secret)) {
				t.Errorf("the HAR holds %s", secret)
			}
		}
	})

	t.Run("the HAR lists the page's exchanges", func(t *testing.T) {
		var h struct {
			Log struct {
				Version string
				Pages   []struct{ ID string }
				Entries []struct {
					Pageref  string
					Request  struct{ Method, URL string }
					Response struct {
						Status  int
						Cookies []struct{ Name, Value string }
						Content struct{ MimeType string }
					}
					Comment string
				}
			}
		}
		if err := json.Unmarshal(res.HAR, &h); err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, e := range h.Log.Entries {
			got[strings.TrimPrefix(e.Request.URL, "http://review.test:"+port)] = e.Response.Status
			if e.Request.URL == "http://review.test:"+port+"/" && (len(e.Response.Cookies) != 1 || e.Response.Cookies[0].Name != "app_session") {
				t.Errorf("the page's cookies: %+v", e.Response.Cookies)
			}
		}
		for _, p := range []string{"/", "/dot.png", "/api/data"} {
			if got[p] != 200 {
				t.Errorf("HAR: %s answered %d; entries: %v", p, got[p], got)
			}
		}
		if h.Log.Version != "1.2" || len(h.Log.Pages) != 1 || res.Exchanges != len(h.Log.Entries) {
			t.Errorf("HAR log: version %q, %d pages, %d entries (%d counted)", h.Log.Version, len(h.Log.Pages), len(h.Log.Entries), res.Exchanges)
		}
	})

	t.Run("other origins are refused before they are asked", func(t *testing.T) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for where, n := range s.hits {
			if strings.Contains(where, "leak") {
				t.Errorf("the browser reached %s %d times", where, n)
			}
		}
		if !strings.Contains(strings.Join(res.Blocked, " "), "http://127.0.0.1:"+port+"/leak.png") {
			t.Errorf("blocked: %v", res.Blocked)
		}
	})
}

func TestCaptureRefusesWhatIsNotAPage(t *testing.T) {
	b := &Browser{Path: "/nonexistent/chromium"}
	if _, err := b.Capture(context.Background(), Page{URL: "http://review.test/"}); tandem.ErrorCode(err) != tandem.EUNSUPPORTED {
		t.Errorf("no browser: %v", err)
	}
	for _, u := range []string{"file:///etc/passwd", "javascript:alert(1)", "http:///x"} {
		if _, err := b.Capture(context.Background(), Page{URL: u}); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%s: %v", u, err)
		}
	}
}
