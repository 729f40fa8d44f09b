package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// sessionLogin signs in to the example stack at base as a browser does —
// CSRF cookie and token, a POST with the token and a Referer of base's own
// origin — and checks that the next server render shows the user. dial, if
// set, connects every request (a preview's host name) to the gateway.
func sessionLogin(t *testing.T, base string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	if dial != nil {
		c.Transport = &http.Transport{DialContext: dial}
	}
	if r := fetch(t, c, "GET", base+"/", nil, nil); r.status != 200 || !strings.Contains(r.body, "Not signed in") {
		t.Fatalf("anonymous page: %d %.200s", r.status, r.body)
	}
	r := fetch(t, c, "GET", base+"/api/auth/csrf/", nil, nil)
	var csrf struct {
		CSRFToken string `json:"csrfToken"`
	}
	json.Unmarshal(decode(t, r).Data, &csrf)
	if csrf.CSRFToken == "" {
		t.Fatalf("no CSRF token: %s", r.body)
	}
	r = fetch(t, c, "POST", base+"/api/auth/login/", strings.NewReader(`{"username":"demo","password":"demo-password"}`),
		map[string]string{"Content-Type": "application/json", "X-CSRFToken": csrf.CSRFToken, "Referer": base + "/login"})
	if e := decode(t, r); r.status != 200 || e.Status != "success" {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), "sessionid=") {
		t.Fatalf("login set no session cookie: %v", r.header.Values("Set-Cookie"))
	}
	if r := fetch(t, c, "GET", base+"/", nil, nil); !strings.Contains(r.body, "Signed in as demo") {
		t.Errorf("the page render after login does not show the user")
	}
	if r := fetch(t, c, "GET", base+"/api/me/", nil, nil); !strings.Contains(r.body, `"auth":"session"`) {
		t.Errorf("me with session: %s", r.body)
	}
}

// previewURL is the origin a browser uses for a preview of s: its host name
// and the gateway's port, which is not the scheme's own.
func (s *server) previewURL(name string) string {
	_, port, _ := net.SplitHostPort(s.gateway)
	return "http://" + name + ".previews.example.com:" + port
}

// dialGateway connects to s's gateway whatever host was asked for, as DNS
// pointing *.previews.example.com at it would.
func (s *server) dialGateway(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, s.gateway)
}
