package testbrowser

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The browser reaches a mapped host name on loopback and keeps its cookies.
func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "c", Value: "1", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		fmt.Fprintf(w, "<!doctype html><body>host %s", r.Host)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ctx := New(t, Options{HostRules: "MAP *.previews.example.com 127.0.0.1"})
	url := "http://pr-1.previews.example.com:" + port + "/"
	loc, text := Open(t, ctx, url)
	if loc != url || !strings.Contains(text, "host pr-1.previews.example.com:"+port) {
		t.Errorf("%s: %q", loc, text)
	}
	if cs := Cookies(t, ctx, url); len(cs) != 1 || cs[0].Name != "c" || !cs[0].HTTPOnly || cs[0].SameSite != "lax" {
		t.Errorf("cookies %+v", cs)
	}
}
