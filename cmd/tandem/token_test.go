package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/httpapi"
	"github.com/tandem-dev/tandem/sqlite"
)

// accessServer is tandem serve's API with its state database, without
// previews: what tandem token, login and logout talk to. Its TCP API is at
// url; its socket is the one of the data directory config names, as root's
// bootstrap path; boot is the bootstrap token's file.
type accessServer struct {
	store  *sqlite.DB
	api    *httpapi.Server
	url    string
	config string
	boot   string
}

func newAccessServer(t *testing.T) *accessServer {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	store, err := sqlite.Open(filepath.Join(data, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := &accessServer{store: store, config: filepath.Join(dir, "tandem.yaml"), boot: filepath.Join(data, httpapi.TokenFile)}
	s.api = &httpapi.Server{Access: store, Repos: []string{"shop", "blog"},
		VerificationURL: "http://auth.previews.example.com/device", LoginInterval: 20 * time.Millisecond}
	tcp := httptest.NewServer(s.api.TCPHandler())
	t.Cleanup(tcp.Close)
	s.url = tcp.URL

	writeFile(t, s.config, "data: data\ndomain: previews.example.com\nrepos:\n  - {name: shop, url: /srv/shop.git, compose: c.yml}\n  - {name: blog, url: /srv/blog.git, compose: c.yml}\n")
	ln, err := net.Listen("unix", filepath.Join(data, "api.sock"))
	if err != nil {
		t.Fatal(err)
	}
	sock := &http.Server{Handler: s.api.SocketHandler()}
	go sock.Serve(ln)
	t.Cleanup(func() { sock.Close() })

	secret, err := httpapi.EnsureToken(s.boot)
	if err == nil {
		_, err = httpapi.Bootstrap(t.Context(), store, secret, time.Now())
	}
	if err != nil {
		t.Fatal(err)
	}
	// Nothing of the machine's may stand in for what the test gives.
	t.Setenv("TANDEM_TOKEN", "")
	t.Setenv("TANDEM_SERVER", "")
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	return s
}

// runSplit runs tandem in-process with stdout and stderr apart.
func runSplit(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTokenCLI(t *testing.T) {
	s := newAccessServer(t)
	// Root makes the first token over the socket: no token needed.
	code, secret, stderr := runSplit(t, "token", "create", "--name", "ci", "--role", "reviewer", "--repo", "shop", "--config", s.config)
	secret = strings.TrimSpace(secret)
	if code != 0 || !strings.HasPrefix(secret, httpapi.TokenPrefix) || strings.Contains(secret, "\n") || !strings.Contains(stderr, "reviewer in shop") {
		t.Fatalf("create over the socket: %d %q %s", code, secret, stderr)
	}
	ci, err := s.store.TokenByHash(t.Context(), tandem.HashSecret(secret))
	if err != nil || ci.CreatedBy != "root" || time.Until(ci.ExpiresAt) < 89*24*time.Hour {
		t.Fatalf("the token: %+v %v", ci, err)
	}

	// The reviewer token sees itself, and may not make tokens.
	t.Setenv("TANDEM_TOKEN", secret)
	if code, out, _ := runSplit(t, "token", "list", "--server", s.url); code != 0 || !strings.Contains(out, ci.ID) || strings.Contains(out, "bootstrap") {
		t.Errorf("list as ci: %d %s", code, out)
	}
	if code, _, stderr := runSplit(t, "token", "create", "--name", "x", "--role", "viewer", "--repo", "shop", "--server", s.url); code != 1 || !strings.Contains(stderr, "may not make tokens") {
		t.Errorf("create as a reviewer: %d %s", code, stderr)
	}
	t.Setenv("TANDEM_TOKEN", "")

	// The bootstrap token is an admin of every repository.
	boot := []string{"--server", s.url, "--token-file", s.boot}
	code, out, _ := runSplit(t, append([]string{"token", "list"}, boot...)...)
	if code != 0 || !strings.Contains(out, "bootstrap") || !strings.Contains(out, "ci") || strings.Contains(out, secret) {
		t.Errorf("list as bootstrap: %d %s", code, out)
	}
	code, out, _ = runSplit(t, append([]string{"token", "create", "--name", "forever", "--role", "viewer", "--repo", "*", "--ttl", "0", "--json"}, boot...)...)
	if code != 0 || !strings.Contains(out, `"secret":"tdm_`) || strings.Contains(out, "expires_at") {
		t.Errorf("create --ttl 0 --json: %d %s", code, out)
	}
	if code, _, stderr := runSplit(t, append([]string{"token", "create", "--name", "x", "--role", "viewer", "--repo", "nope"}, boot...)...); code != 1 || !strings.Contains(stderr, `no repository "nope"`) {
		t.Errorf("an unknown repository: %d %s", code, stderr)
	}
	if code, out, _ := runSplit(t, append([]string{"token", "list", "--json"}, boot...)...); code != 0 || strings.Contains(out, "tdm_") || strings.Contains(out, "secret") {
		t.Errorf("list --json: %d %s", code, out)
	}

	// Revoked: refused, and the CLI says how to give another.
	if code, out, _ := runSplit(t, append([]string{"token", "revoke", ci.ID}, boot...)...); code != 0 || !strings.Contains(out, ci.ID+" revoked") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	t.Setenv("TANDEM_TOKEN", secret)
	code, _, stderr = runSplit(t, "preview", "list", "--server", s.url)
	if code != 1 || !strings.Contains(stderr, ci.ID+" was revoked") || !strings.Contains(stderr, "tandem login") {
		t.Errorf("a revoked token: %d %s", code, stderr)
	}
	t.Setenv("TANDEM_TOKEN", "")
	if code, _, stderr := runSplit(t, "token", "list", "--server", s.url); code != 1 || !strings.Contains(stderr, "this API needs a token") {
		t.Errorf("no token: %d %s", code, stderr)
	}
}
