package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// testGate lets in requests with the cookie gk=ok or the header
// X-Tandem-Bypass: letmein, answers /__gate/ itself, and refuses the rest
// with a 401 of its own.
func testGate(r *GateRequest) GateDecision {
	if strings.HasPrefix(r.Path, "/__gate/") {
		return GateDecision{Handler: http.HandlerFunc(gatePage)}
	}
	if v, _ := r.Cookie("gk"); v == "ok" || r.Header("X-Tandem-Bypass") == "letmein" {
		return GateDecision{Principal: "alice@corp.example", Generation: 3, Cookie: "gk"}
	}
	return GateDecision{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"status":"error","data":null,"error":"sign in"}`)
	})}
}

// gatePage is the gate's own page: it reports what it received.
func gatePage(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "gk", Value: "ok", Path: "/", HttpOnly: true})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{
		"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "host": r.Host,
		"body": string(body), "client": ClientAddr(r).String(), "cookie": r.Header.Get("Cookie"),
	})
}

// gateSeen is what the service received.
type gateSeen struct {
	Cookie        []string `json:"cookie"`
	Authorization []string `json:"authorization"`
	Tandem        []string `json:"tandem"`
}

var seeing = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var s gateSeen
	s.Cookie, s.Authorization = r.Header.Values("Cookie"), r.Header.Values("Authorization")
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Tandem") {
			s.Tandem = append(s.Tandem, k)
		}
	}
	json.NewEncoder(w).Encode(s)
})

func newGatedHarness(t *testing.T, v via) (*harness, *counter) {
	svc := &counter{h: seeing}
	h := newHarness(t, v, Options{}, []tandem.Route{apiRoute, webRoute}, map[string]http.Handler{"api:8000": svc, "web:3000": svc})
	h.site = &Site{Name: "pr-7", Routes: h.site.Routes, Dial: h.dial, Gate: testGate}
	h.gw.Set(&Table{Default: h.site})
	return h, svc
}

func decodeGateSeen(t *testing.T, body string) gateSeen {
	t.Helper()
	var s gateSeen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("%v: %q", err, body)
	}
	return s
}

func TestGateRefuses(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h, svc := newGatedHarness(t, v)
		for _, path := range []string{"/", "/api/me/", "/nowhere/../api/x", "/api"} {
			res, body := h.get(path, "Cookie", "gk=no; sessionid=abc", "X-Tandem-User", "alice@corp.example")
			if res.StatusCode != http.StatusUnauthorized || body != `{"status":"error","data":null,"error":"sign in"}` {
				t.Errorf("%s: %d %q", path, res.StatusCode, body)
			}
		}
		if n := svc.n.Load(); n != 0 {
			t.Errorf("the service got %d requests", n)
		}
		rec := h.logs.wait(t, "/api/me/")
		if rec["status"] != int64(401) || rec["site"] != "pr-7" || rec["principal"] != nil {
			t.Errorf("log record %v", rec)
		}
	})
}

// The gate's cookie never reaches the service; the application's cookies,
// its Authorization header and its session pass as they were.
func TestGateCookieAndHeaders(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h, _ := newGatedHarness(t, v)
		for _, c := range []struct{ sent, want string }{
			{"gk=ok", ""},
			{"gk=ok; sessionid=abc", "sessionid=abc"},
			{"sessionid=abc; gk=ok; csrftoken=Zx9", "sessionid=abc; csrftoken=Zx9"},
			{`sessionid=abc; theme="dark mode"; gk=ok`, `sessionid=abc; theme="dark mode"`},
			{"sessionid=abc; gk=ok; gk=forged", "sessionid=abc"},
		} {
			res, body := h.get("/api/me/", "Cookie", c.sent, "Authorization", "Token 0123abc",
				"X-Tandem-User", "mallory@corp.example", "x-tandem-principal", "root")
			if res.StatusCode != 200 {
				t.Fatalf("%q: %d %s", c.sent, res.StatusCode, body)
			}
			s := decodeGateSeen(t, body)
			var want []string
			if c.want != "" {
				want = []string{c.want}
			}
			if strings.Join(s.Cookie, "; ") != c.want || len(s.Cookie) > 1 && v != viaH2 {
				t.Errorf("sent Cookie %q: service got %q, want %q", c.sent, s.Cookie, want)
			}
			if !slices.Equal(s.Authorization, []string{"Token 0123abc"}) {
				t.Errorf("Authorization: %q", s.Authorization)
			}
			if len(s.Tandem) > 0 {
				t.Errorf("the service got %v", s.Tandem)
			}
		}
		_, body := h.get("/", "X-Tandem-Bypass", "letmein")
		if s := decodeGateSeen(t, body); len(s.Tandem) > 0 || len(s.Cookie) > 0 {
			t.Errorf("bypass: the service got %+v", s)
		}
		rec := h.logs.wait(t, "/")
		if rec["principal"] != "alice@corp.example" || rec["generation"] != int64(3) || rec["status"] != int64(200) {
			t.Errorf("log record %v", rec)
		}
	})
}

// Over HTTP/1 the other cookies keep their exact bytes, odd spacing too.
func TestGateCookieBytes(t *testing.T) {
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h, _ := newGatedHarness(t, v)
		for _, c := range []struct{ sent, want string }{
			{"a=1;gk=ok;b=2", "a=1;b=2"},
			{"gk=ok;  a=1;b=2", "a=1;b=2"},
			{`a="x;y"; gk=ok`, `a="x;y"`},
		} {
			res, body := h.raw("/api/me/", "Cookie: "+c.sent)
			if res.StatusCode != 200 {
				t.Fatalf("%q: %d", c.sent, res.StatusCode)
			}
			if s := decodeGateSeen(t, body); !slices.Equal(s.Cookie, []string{c.want}) {
				t.Errorf("sent %q: service got %q, want %q", c.sent, s.Cookie, c.want)
			}
		}
	})
}

// X-Tandem-* headers are tandem's: a client's are dropped on every site,
// gated or not.
func TestGateHeadersDroppedEverywhere(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": seeing})
		_, body := h.get("/", "X-Tandem-Bypass", "x", "X-TANDEM-USER", "root", "X-Tandemish", "kept", "Cookie", "gk=ok")
		s := decodeGateSeen(t, body)
		if len(s.Tandem) != 1 || s.Tandem[0] != "X-Tandemish" {
			t.Errorf("the service got %v", s.Tandem)
		}
		if !slices.Equal(s.Cookie, []string{"gk=ok"}) {
			t.Errorf("a site without a gate changed Cookie: %q", s.Cookie)
		}
	})
}

// The gate's own handler gets the request with its body and the client's
// address, and its answer (status, cookies) goes out as written.
func TestGateHandler(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h, svc := newGatedHarness(t, v)
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/__gate/session?ticket=t1", strings.NewReader("code=123456"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", "sessionid=abc")
		res, body := h.do(req)
		var got map[string]string
		json.Unmarshal([]byte(body), &got)
		if res.StatusCode != http.StatusCreated || got["body"] != "code=123456" || got["path"] != "/__gate/session" ||
			got["query"] != "ticket=t1" || got["client"] != "127.0.0.1" || got["method"] != "POST" || got["cookie"] != "sessionid=abc" {
			t.Errorf("%d %v", res.StatusCode, got)
		}
		if c := res.Header.Values("Set-Cookie"); len(c) != 1 || !strings.HasPrefix(c[0], "gk=ok") {
			t.Errorf("Set-Cookie %q", c)
		}
		if svc.n.Load() != 0 {
			t.Error("the service got the gate's request")
		}
		rec := h.logs.wait(t, "/__gate/session")
		if rec["status"] != int64(201) || rec["method"] != "POST" {
			t.Errorf("log record %v", rec)
		}

		big := strings.Repeat("a", MaxGateBody+1)
		req, _ = http.NewRequest(http.MethodPost, h.URL+"/__gate/x", strings.NewReader(big))
		if res, _ := h.do(req); res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("a body over MaxGateBody: %d", res.StatusCode)
		}
		// The connection is still good for the next request.
		if res, _ := h.get("/", "Cookie", "gk=ok"); res.StatusCode != 200 {
			t.Errorf("after a large body: %d", res.StatusCode)
		}
	})
}

func BenchmarkGatePass(b *testing.B) {
	h := newHarness(b, viaH1, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})})
	h.site = &Site{Name: "pr-7", Routes: h.site.Routes, Dial: h.dial, Gate: testGate}
	h.gw.Set(&Table{Default: h.site})
	c := h.client()
	req, _ := http.NewRequest(http.MethodGet, h.URL+"/", nil)
	req.Header.Set("Cookie", "sessionid=abc; gk=ok; csrftoken=x")
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}
