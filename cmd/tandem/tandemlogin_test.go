package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// startLogin runs tandem login against s and returns the user code it
// shows, and the exit status once it ends.
func startLogin(t *testing.T, s *accessServer) (userCode string, stdout *testutil.Buffer, done <-chan int) {
	t.Helper()
	out, errOut := &testutil.Buffer{}, &testutil.Buffer{}
	ch := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { ch <- Main(ctx, []string{"login", "--server", s.url}, strings.NewReader(""), out, errOut) }()
	code := regexp.MustCompile(`shows the code ([A-Z]{4}-[A-Z]{4})`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := code.FindStringSubmatch(errOut.String()); m != nil {
			if !strings.Contains(errOut.String(), "http://auth.previews.example.com/device?code="+m[1]) {
				t.Errorf("no verification URL: %s", errOut)
			}
			return m[1], out, ch
		}
		select {
		case c := <-ch:
			t.Fatalf("tandem login ended (%d) before showing a code: %s", c, errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tandem login showed no code: %s", errOut)
		}
	}
}

func waitExit(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("tandem login did not end")
	}
	return -1
}

// The whole of tandem login but the browser: the approval is given as the
// sign-in page gives it, through the store.
func TestLoginCLI(t *testing.T) {
	s := newAccessServer(t)
	ctx := t.Context()
	alice := &tandem.Person{Email: "alice@corp.example", Groups: []string{"shop-admins"}}
	s.store.PutPerson(ctx, alice)
	grant, _ := s.store.AddGrant(ctx, tandem.Grant{Repo: "shop", Role: "admin", Group: "shop-admins"})

	userCode, stdout, done := startLogin(t, s)
	if d, err := s.store.DeviceByUserCode(ctx, userCode); err != nil || !strings.HasPrefix(d.Client, "tandem CLI on ") {
		t.Fatalf("the pending login: %+v %v", d, err)
	}
	if err := s.store.ApproveDevice(ctx, userCode, alice.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, done); code != 0 || !strings.Contains(stdout.String(), "Logged in to "+s.url+" as alice@corp.example") {
		t.Fatalf("login: %d %s", code, stdout)
	}

	// The token is kept for the server, for the user alone.
	path := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "tandem", "credentials.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials: %v %v", fi, err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory: %v", di.Mode())
	}
	b, _ := os.ReadFile(path)
	var creds credentials
	json.Unmarshal(b, &creds)
	saved := creds.Servers[serverKey(s.url)]
	tok, err := s.store.TokenByHash(ctx, tandem.HashSecret(saved.Token))
	if err != nil || tok.PersonID != alice.ID || saved.Email != alice.Email || saved.TokenID != tok.ID {
		t.Fatalf("saved %+v: %+v %v", saved, tok, err)
	}

	// Later commands use it, with alice's roles as they are at the time.
	if code, out, stderr := runSplit(t, "token", "list", "--server", s.url+"/"); code != 0 || !strings.Contains(out, tok.ID) {
		t.Errorf("list with the saved token: %d %s %s", code, out, stderr)
	}
	if code, out, _ := runSplit(t, "token", "create", "--name", "ci", "--role", "viewer", "--repo", "shop", "--server", s.url); code != 0 || !strings.HasPrefix(out, "tdm_") {
		t.Errorf("create as shop's admin: %d %s", code, out)
	}
	s.store.DeleteGrant(ctx, grant.ID)
	if code, _, stderr := runSplit(t, "token", "create", "--name", "ci2", "--role", "viewer", "--repo", "shop", "--server", s.url); code != 1 || !strings.Contains(stderr, "alice@corp.example may not make tokens") {
		t.Errorf("create once the grant is gone: %d %s", code, stderr)
	}
	// A token given outright comes first.
	t.Setenv("TANDEM_TOKEN", "tdm_nonsense")
	if code, _, stderr := runSplit(t, "token", "list", "--server", s.url); code != 1 || !strings.Contains(stderr, "unknown API token") {
		t.Errorf("TANDEM_TOKEN over the saved token: %d %s", code, stderr)
	}
	t.Setenv("TANDEM_TOKEN", "")

	// Logging out revokes the token and forgets it.
	if code, out, stderr := runSplit(t, "logout", "--server", s.url); code != 0 || !strings.Contains(out, "Logged out") {
		t.Fatalf("logout: %d %s %s", code, out, stderr)
	}
	if tok, _ := s.store.TokenByHash(ctx, tandem.HashSecret(saved.Token)); tok.RevokedAt.IsZero() {
		t.Error("logout left the token valid")
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), saved.Token) {
		t.Errorf("logout left the token in %s", path)
	}
	if code, _, stderr := runSplit(t, "token", "list", "--server", s.url); code != 1 || !strings.Contains(stderr, "this API needs a token") {
		t.Errorf("after logout: %d %s", code, stderr)
	}
}

func TestLoginDenied(t *testing.T) {
	s := newAccessServer(t)
	userCode, _, done := startLogin(t, s)
	if err := s.store.DenyDevice(t.Context(), userCode, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, done); code != 1 {
		t.Errorf("a denied login exits %d", code)
	}
	if code, _, stderr := runSplit(t, "login"); code != 1 || !strings.Contains(stderr, "--server") {
		t.Errorf("login without a server: %d %s", code, stderr)
	}
}
