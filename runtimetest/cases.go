package runtimetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// get fetches http://addr/ through the sandbox's dialer, as the gateway
// reaches a service.
func get(ctx context.Context, sb tandem.Sandbox, addr string) (string, error) {
	c := &http.Client{Transport: &http.Transport{DialContext: sb.DialContext, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func awaitBody(t *testing.T, sb tandem.Sandbox, addr, want string) {
	t.Helper()
	var got string
	var err error
	waitFor(t, addr+" to answer "+want, 60*time.Second, func() bool {
		got, err = get(context.Background(), sb, addr)
		return err == nil && got == want
	})
}

// Two instances of one stack bind the same port, each in its own network.
func (s *suite) twoInstancesBindTheSamePort(t *testing.T) {
	a := s.sandbox(t, "conf-a", "web")
	b := s.sandbox(t, "conf-b", "web")
	var outA, outB testutil.Buffer
	start(t, a, s.cfg.Service("web", httpServer(8080, "instance a"), nil), &outA)
	start(t, b, s.cfg.Service("web", httpServer(8080, "instance b"), nil), &outB)
	awaitBody(t, a, "web:8080", "instance a")
	awaitBody(t, b, "web:8080", "instance b")
	// Nothing of either is on the host's own loopback.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:8080", time.Second); err == nil {
		c.Close()
		if body, _ := get(context.Background(), a, "web:8080"); body == "instance a" {
			t.Log("something on the host listens on 127.0.0.1:8080 (not necessarily an instance)")
		}
	}
}

// Service names resolve inside the instance, to the instance's own
// services, and nowhere else.
func (s *suite) namesResolveInsideOnly(t *testing.T) {
	before := hostHosts(t)
	sb := s.sandbox(t, "conf-names", "api", "client")
	var out testutil.Buffer
	start(t, sb, s.cfg.Service("api", httpServer(8000, "api here"), nil), &out)
	awaitBody(t, sb, "api:8000", "api here")
	client := s.cfg.Service("client", "exec busybox sleep 1000", nil)
	var got bytes.Buffer
	if err := sb.Exec(context.Background(), client, []string{"busybox", "wget", "-q", "-O", "-", "http://api:8000/"}, &got, &got); err != nil {
		t.Fatalf("wget http://api:8000/ inside the instance: %v: %s", err, got.String())
	}
	if strings.TrimSpace(got.String()) != "api here" {
		t.Errorf("inside, api:8000 answered %q", got.String())
	}
	if _, err := sb.DialContext(context.Background(), "tcp", "nope:80"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("dial of a name that is no service: %v, want ENOTFOUND", err)
	}
	if after := hostHosts(t); after != before {
		t.Errorf("the host's /etc/hosts changed:\n%s", after)
	}
	if addrs, err := net.DefaultResolver.LookupHost(context.Background(), "conf-names-api.invalid"); err == nil {
		t.Errorf("an instance's name resolves on the host: %v", addrs)
	}
}

// Exec reports a command's exit status, and a missing command as 127.
func (s *suite) execReportsExitStatus(t *testing.T) {
	sb := s.sandbox(t, "conf-exec", "x")
	svc := s.cfg.Service("x", "exec busybox sleep 1000", map[string]string{"GREETING": "hello"})
	var out bytes.Buffer
	err := sb.Exec(context.Background(), svc, []string{"sh", "-c", `echo "$GREETING"; exit 3`}, &out, &out)
	var ee *tandem.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("exit 3: %v", err)
	}
	if strings.TrimSpace(out.String()) != "hello" {
		t.Errorf("output %q: the service's environment is not the command's", out.String())
	}
	if err := sb.Exec(context.Background(), svc, []string{"sh", "-c", "exit 0"}, io.Discard, io.Discard); err != nil {
		t.Errorf("exit 0: %v", err)
	}
	err = sb.Exec(context.Background(), svc, []string{"no-such-command-here"}, io.Discard, io.Discard)
	if !errors.As(err, &ee) || ee.Code != 127 {
		t.Errorf("missing command: %v, want exit status 127", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	if err := sb.Exec(ctx, svc, []string{"busybox", "sleep", "60"}, io.Discard, io.Discard); err == nil {
		t.Error("a canceled exec reported success")
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("canceling an exec took %s", d)
	}
}

// Stop sends the stop signal, and ends everything the service started,
// daemons included.
func (s *suite) stopEndsEverything(t *testing.T) {
	sb := s.sandbox(t, "conf-stop", "worker")
	// httpd without -f goes to the background, as a daemon would.
	script := `cd /tmp && mkdir -p www && echo daemon > www/index.html && busybox httpd -p 8081 -h www && ` +
		`trap 'echo stopping; exit 0' TERM; echo started; while :; do busybox sleep 0.2; done`
	var out testutil.Buffer
	svc := s.cfg.Service("worker", script, nil)
	p := start(t, sb, svc, &out)
	if p.ID() == "" {
		t.Error("a running process has no ID")
	}
	awaitBody(t, sb, "worker:8081", "daemon")
	waitFor(t, "started", 30*time.Second, func() bool { return strings.Contains(out.String(), "started") })
	if err := p.Stop(context.Background(), 20*time.Second); err != nil {
		t.Errorf("stop: %v (the script exits 0 on SIGTERM)\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "stopping") {
		t.Errorf("the stop signal did not reach the command:\n%s", out.String())
	}
	if err := p.Wait(); err != nil {
		t.Errorf("Wait after Stop: %v", err)
	}
	if c, err := sb.DialContext(context.Background(), "tcp", "worker:8081"); err == nil {
		c.Close()
		t.Error("the service's daemon still listens after it stopped")
	}
}

// A command that ignores its stop signal is killed once grace has passed.
func (s *suite) stopKillsAfterGrace(t *testing.T) {
	sb := s.sandbox(t, "conf-grace", "stubborn")
	var out testutil.Buffer
	p := start(t, sb, s.cfg.Service("stubborn", `trap '' TERM; echo up; while :; do busybox sleep 0.2; done`, nil), &out)
	waitFor(t, "up", 30*time.Second, func() bool { return strings.Contains(out.String(), "up") })
	began := time.Now()
	err := p.Stop(context.Background(), 500*time.Millisecond)
	if d := time.Since(began); d < 500*time.Millisecond || d > 20*time.Second {
		t.Errorf("stop took %s with a grace of 500ms", d)
	}
	var ee *tandem.ExitError
	if !errors.As(err, &ee) || ee.Code != 137 {
		t.Errorf("killed after grace: %v, want exit 137", err)
	}
}

// A command that fails reports its status, and its last lines reach the
// output; one that cannot start at all says which command.
func (s *suite) failingStartReportsLastLines(t *testing.T) {
	sb := s.sandbox(t, "conf-fail", "bad", "missing")
	var out testutil.Buffer
	p, err := sb.Start(context.Background(), s.cfg.Service("bad", `echo first line; echo "last words" >&2; exit 3`, nil), &out, &out)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	var ee *tandem.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("Wait: %v, want exit status 3", err)
	}
	if !contains(out.String(), "first line", "last words") {
		t.Errorf("output lacks the service's lines:\n%s", out.String())
	}
	missing := s.cfg.Service("missing", "", nil)
	missing.Entrypoint, missing.Command = nil, []string{"/no/such/program-xyz"}
	out.Reset()
	p, err = sb.Start(context.Background(), missing, &out, &out)
	if err == nil {
		err = p.Wait()
	}
	if err == nil || !(strings.Contains(err.Error()+out.String(), "program-xyz") || errors.As(err, &ee) && ee.Code == 127) {
		t.Errorf("a missing program: %v\n%s", err, out.String())
	}
}

// A database's snapshot starts other instances with its data, each with a
// copy of its own.
func (s *suite) snapshotRoundTrip(t *testing.T) {
	var db *tandem.Service
	if s.cfg.Postgres != nil {
		db = s.cfg.Postgres("db")
	}
	if db == nil {
		t.Skip("no postgres service for this runtime here")
	}
	ctx := context.Background()
	psqlIn := func(sb tandem.Sandbox, database, sql string) (string, error) {
		var out bytes.Buffer
		err := sb.Exec(ctx, db, []string{"psql", "-h", "127.0.0.1", "-U", "app", "-d", database, "-v", "ON_ERROR_STOP=1", "-tAc", sql}, &out, &out)
		return strings.TrimSpace(out.String()), err
	}
	psql := func(sb tandem.Sandbox, sql string) (string, error) { return psqlIn(sb, "shop", sql) }
	up := func(sb tandem.Sandbox, out io.Writer) tandem.Process {
		p := start(t, sb, db, out)
		waitFor(t, "postgres", 2*time.Minute, func() bool { _, err := psql(sb, "select 1"); return err == nil })
		return p
	}
	seeded := s.sandbox(t, "conf-seed", "db")
	never, cancel := context.WithTimeout(ctx, time.Minute)
	if _, err := seeded.Snapshot(never, db); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("snapshot of a database that never ran: %v, want ENOTFOUND at once", err)
	}
	cancel()
	var out testutil.Buffer
	p := up(seeded, &out)
	if got, err := psql(seeded, "create table article (title text); insert into article values ('seeded')"); err != nil {
		t.Fatalf("%v: %s\n%s", err, got, out.String())
	}
	// A seed may make roles and databases of its own (initdb scripts
	// often do): a snapshot is the whole server's data, not one database.
	for _, sql := range []string{"create role reader login password 'r'", "create database reports owner reader"} {
		if got, err := psql(seeded, sql); err != nil {
			t.Fatalf("%s: %v: %s", sql, err, got)
		}
	}
	if got, err := psqlIn(seeded, "reports", "create table monthly (v text); insert into monthly values ('march'); alter table monthly owner to reader"); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if _, err := seeded.Snapshot(ctx, db); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Errorf("snapshot of a running server: %v, want ECONFLICT", err)
	}
	if err := p.Stop(ctx, time.Minute); err != nil {
		t.Logf("stop: %v", err)
	}
	id, err := seeded.Snapshot(ctx, db)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	t.Cleanup(func() { s.cfg.Runtime.RemoveSnapshot(ctx, id) })
	if _, err := seeded.Snapshot(ctx, s.cfg.Service("x", "true", nil)); tandem.ErrorCode(err) != tandem.EUNSUPPORTED {
		t.Errorf("snapshot of a service that is no database: %v, want EUNSUPPORTED", err)
	}

	a := s.sandboxWith(t, tandem.SandboxSpec{Name: "conf-restore-a", Services: []string{"db"}, Restore: map[string]string{"db": id}})
	b := s.sandboxWith(t, tandem.SandboxSpec{Name: "conf-restore-b", Services: []string{"db"}, Restore: map[string]string{"db": id}})
	up(a, &out)
	if got, err := psql(a, "select title from article"); err != nil || got != "seeded" {
		t.Errorf("restored rows: %q %v\n%s", got, err, out.String())
	}
	if got, err := psqlIn(a, "reports", "select v || ' ' || tableowner from monthly, pg_tables where tablename = 'monthly'"); err != nil || got != "march reader" {
		t.Errorf("the seed's other database, as restored: %q %v, want its row and owner", got, err)
	}
	if got, err := psql(a, "select rolcanlogin from pg_roles where rolname = 'reader'"); err != nil || got != "t" {
		t.Errorf("the seed's role, as restored: %q %v", got, err)
	}
	psql(a, "insert into article values ('only in a')")
	up(b, &out)
	if got, _ := psql(b, "select count(*) from article"); got != "1" {
		t.Errorf("b sees %s rows: a's write reached the snapshot", got)
	}

	if err := s.cfg.Runtime.RemoveSnapshot(ctx, id); err != nil {
		t.Errorf("remove snapshot: %v", err)
	}
	if err := s.cfg.Runtime.RemoveSnapshot(ctx, id); err != nil {
		t.Errorf("removing a removed snapshot: %v", err)
	}
	if err := s.cfg.Runtime.RemoveSnapshot(ctx, "../../etc"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("a snapshot id that is a path: %v, want EINVALID", err)
	}
	gone := s.sandboxWith(t, tandem.SandboxSpec{Name: "conf-restore-gone", Services: []string{"db"}, Restore: map[string]string{"db": id}})
	if p, err := gone.Start(ctx, db, io.Discard, io.Discard); err == nil {
		p.Stop(ctx, 0)
		t.Error("a removed snapshot was restored")
	}
}

// The gateway's dialer reaches a service by name and port, and a port
// nothing listens on is refused, not hung.
func (s *suite) gatewayDialsIn(t *testing.T) {
	sb := s.sandboxWith(t, tandem.SandboxSpec{Name: "conf-dial", Services: []string{"api", "web"}, Ports: []int{8000, 3000}})
	var out testutil.Buffer
	start(t, sb, s.cfg.Service("api", httpServer(8000, "from api"), nil), &out)
	start(t, sb, s.cfg.Service("web", httpServer(3000, "from web"), nil), &out)
	awaitBody(t, sb, "api:8000", "from api")
	awaitBody(t, sb, "web:3000", "from web")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sb.DialContext(ctx, "tcp", "api:3999")
	if err == nil {
		// A runtime that publishes ports may accept and then close.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _ := c.Read(make([]byte, 1)); n > 0 {
			t.Error("a port nothing listens on answered")
		}
		c.Close()
	}
	if ctx.Err() != nil {
		t.Error("dialing a closed port hung")
	}
}

// A closed sandbox starts nothing, and closing twice is fine.
func (s *suite) closedSandboxRefuses(t *testing.T) {
	sb := s.sandbox(t, "conf-closed", "x")
	p := start(t, sb, s.cfg.Service("x", "exec busybox sleep 1000", nil), io.Discard)
	if err := sb.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("a process outlived its sandbox's Close")
	}
	if err := sb.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := sb.Start(context.Background(), s.cfg.Service("x", "true", nil), io.Discard, io.Discard); err == nil {
		t.Error("a closed sandbox started a service")
	} else if code := tandem.ErrorCode(err); code != tandem.ECONFLICT {
		t.Errorf("start in a closed sandbox: %v (code %s), want ECONFLICT", err, code)
	}
}
