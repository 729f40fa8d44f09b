//go:build linux

package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// testRuntime keeps the snapshots tests make in a directory of its own,
// removed when they end.
var testRuntime = New()

func TestMain(m *testing.M) {
	Init()
	dir, err := os.MkdirTemp("", "tandem-snapshots-")
	if err != nil {
		panic(err)
	}
	testRuntime.SnapshotDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pythonServer is a service that answers HTTP on port, printing its own
// /etc/hosts view and hostname lookups on each request.
func pythonServer(name string, port int) *tandem.Service {
	script := fmt.Sprintf(`
import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s " + self.headers.get("Host", "") + " " + socket.gethostbyname("api")).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
print("listening", flush=True)
http.server.HTTPServer(("0.0.0.0", %d), H).serve_forever()
`, name, port)
	return &tandem.Service{Name: name, Command: []string{"/usr/bin/python3", "-c", script}, Context: "/"}
}

// newSandbox makes a sandbox for services, whose work tree is an empty
// directory of the test's (sb.spec.WorkTree).
func newSandbox(t *testing.T, services ...string) *Sandbox {
	t.Helper()
	sb, err := testRuntime.NewSandbox(context.Background(), tandem.SandboxSpec{Name: t.Name(), Services: services, DataDir: t.TempDir(), WorkTree: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb.(*Sandbox)
}

// syncBuffer collects a process's output while it runs.

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, sb *Sandbox, addr string) (string, error) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: sb.DialContext}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestServiceIsReachableByNameInsideOnly(t *testing.T) {
	port := freePort(t)
	sb := newSandbox(t, "api", "web")
	var out testutil.Buffer
	p, err := sb.Start(context.Background(), pythonServer("api", port), &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "api to listen", 10*time.Second, func() bool { return strings.Contains(out.String(), "listening") })

	var body string
	waitFor(t, "api to answer", 10*time.Second, func() bool { body, err = get(t, sb, fmt.Sprintf("api:%d", port)); return err == nil })
	if want := fmt.Sprintf("api api:%d 127.0.0.1", port); body != want {
		t.Errorf("body = %q, want %q", body, want)
	}
	// Another service of the instance reaches it by name.
	var client bytes.Buffer
	err = sb.Exec(context.Background(), &tandem.Service{Name: "web", Context: "/"},
		[]string{"/usr/bin/python3", "-c", fmt.Sprintf("import urllib.request; print(urllib.request.urlopen('http://api:%d/').read().decode())", port)}, &client, &client)
	if err != nil {
		t.Fatalf("exec: %v: %s", err, client.String())
	}
	if got := strings.TrimSpace(client.String()); got != fmt.Sprintf("api api:%d 127.0.0.1", port) {
		t.Errorf("from web: %q", got)
	}
	// The host does not see it.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d is reachable from the host network", port)
	}
	// Unknown names are refused before dialing.
	if _, err := sb.DialContext(context.Background(), "tcp", "nope:80"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("dial unknown service: %v", err)
	}
	if hosts, _ := os.ReadFile("/etc/hosts"); bytes.Contains(hosts, []byte("written by tandem")) {
		t.Error("the host's /etc/hosts was changed")
	}
	p.(*proc).Signal(os.Interrupt)
	if err := p.Wait(); err == nil {
		t.Error("interrupted server exited 0")
	}
}

func TestTwoInstancesBindTheSamePort(t *testing.T) {
	port := freePort(t)
	a, b := newSandbox(t, "api"), newSandbox(t, "api")
	for _, sb := range []*Sandbox{a, b} {
		if _, err := sb.Start(context.Background(), pythonServer("api", port), io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	for i, sb := range []*Sandbox{a, b} {
		waitFor(t, "instance "+strconv.Itoa(i), 10*time.Second, func() bool { _, err := get(t, sb, fmt.Sprintf("api:%d", port)); return err == nil })
	}
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

func descendants(pid int) []int {
	var all []int
	for _, c := range children(pid) {
		all = append(all, c)
		all = append(all, descendants(c)...)
	}
	return all
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !bytes.Contains(b[bytes.LastIndexByte(b, ')'):], []byte(") Z"))
}

func TestEndingTheCommandEndsEverythingItStarted(t *testing.T) {
	sb := newSandbox(t, "worker")
	// The background sleep would be orphaned by a plain process group kill
	// if it moved to its own group; the PID namespace ends it anyway.
	svc := &tandem.Service{Name: "worker", Context: "/", Command: []string{"sh", "-c", "setsid sleep 1000 & sleep 1000 & echo started; wait"}}
	var out testutil.Buffer
	p, err := sb.Start(context.Background(), svc, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sleeps", 10*time.Second, func() bool { return len(descendants(p.(*proc).cmd.Process.Pid)) >= 3 })
	procs := descendants(p.(*proc).cmd.Process.Pid)
	if err := p.(*proc).Signal(sigterm); err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var ee *tandem.ExitError
	if !errors.As(err, &ee) || ee.Code != 128+15 {
		t.Errorf("Wait = %v, want exit 143 (SIGTERM)", err)
	}
	for _, pid := range procs {
		if alive(pid) {
			t.Errorf("pid %d still running after its service ended", pid)
		}
	}
}

func TestExecReportsExitStatusAndMissingCommands(t *testing.T) {
	sb := newSandbox(t, "x")
	svc := &tandem.Service{Name: "x", Context: sb.spec.WorkTree}
	err := sb.Exec(context.Background(), svc, []string{"sh", "-c", "exit 3"}, io.Discard, io.Discard)
	var ee *tandem.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("exit 3: got %v", err)
	}
	var out bytes.Buffer
	err = sb.Exec(context.Background(), svc, []string{"./bin/missing.sh"}, &out, &out)
	if !errors.As(err, &ee) || ee.Code != 127 || !strings.Contains(out.String(), "missing.sh") {
		t.Errorf("missing command: %v, output %q", err, out.String())
	}
	// Runs in the service's directory with its environment, and no more of
	// tandem's environment than PATH and the like.
	t.Setenv("TANDEM_TEST_LEAK", "leaked")
	svc.Environment = map[string]string{"GREETING": "hello"}
	out.Reset()
	if err := sb.Exec(context.Background(), svc, []string{"sh", "-c", `echo "$PWD $GREETING $HOSTNAME ${TANDEM_TEST_LEAK:-clean}"`}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(out.String()), svc.Context+" hello x clean"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Canceling the context kills a command that would run on.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := sb.Exec(ctx, svc, []string{"sleep", "30"}, io.Discard, io.Discard); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("canceled exec: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("canceled exec did not stop")
	}
}

func TestPostgresImageRunsAsLocalServer(t *testing.T) {
	if _, err := New().postgresBins(); err != nil {
		t.Skip(err)
	}
	sb := newSandbox(t, "db", "api")
	db := &tandem.Service{Name: "db", Image: "postgres:16", Environment: map[string]string{
		"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "s3cret", "POSTGRES_DB": "shop"}}
	var out testutil.Buffer
	p, err := sb.Start(context.Background(), db, &out, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// The healthcheck the postgres image's users write works unchanged: it
	// finds the server's socket at the default place.
	waitFor(t, "pg_isready", 30*time.Second, func() bool {
		return sb.Exec(context.Background(), db, []string{"pg_isready", "-U", "app", "-d", "shop"}, io.Discard, io.Discard) == nil
	})
	// Another service logs in over TCP by service name, with the password.
	api := &tandem.Service{Name: "api", Context: "/", Environment: map[string]string{"PGPASSWORD": "s3cret"}}
	var q bytes.Buffer
	if err := sb.Exec(context.Background(), api, []string{"psql", "-h", "db", "-U", "app", "-d", "shop", "-tAc", "select current_user || ' ' || current_database()"}, &q, &q); err != nil {
		t.Fatalf("psql: %v: %s\nserver: %s", err, q.String(), out.String())
	}
	if got := strings.TrimSpace(q.String()); got != "app shop" {
		t.Errorf("psql said %q", got)
	}
	q.Reset()
	api.Environment["PGPASSWORD"] = "wrong"
	if err := sb.Exec(context.Background(), api, []string{"psql", "-h", "db", "-U", "app", "-d", "shop", "-c", "select 1"}, &q, &q); err == nil {
		t.Error("a wrong password was accepted over TCP")
	}
	p.(*proc).Signal(sigterm)
	p.Wait()

	// The data outlives the server; a second start reuses it.
	out = testutil.Buffer{}
	p, err = sb.Start(context.Background(), db, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.(*proc).Signal(sigterm); p.Wait() }()
	if strings.Contains(out.String(), "initialised") {
		t.Error("initialised twice")
	}
	waitFor(t, "restart", 30*time.Second, func() bool {
		return sb.Exec(context.Background(), db, []string{"pg_isready", "-U", "app", "-d", "shop"}, io.Discard, io.Discard) == nil
	})
}

func TestPostgresWithoutPasswordExplains(t *testing.T) {
	if _, err := New().postgresBins(); err != nil {
		t.Skip(err)
	}
	sb := newSandbox(t, "db")
	_, err := sb.Start(context.Background(), &tandem.Service{Name: "db", Image: "postgres:16"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("got %v", err)
	}
}

func TestCheck(t *testing.T) {
	rt := New()
	for _, tc := range []struct {
		svc  tandem.Service
		want string // "" = supported
	}{
		{tandem.Service{Name: "api", Context: "/src", Command: []string{"gunicorn"}}, ""},
		{tandem.Service{Name: "api", Context: "/src"}, "has no command"},
		{tandem.Service{Name: "cache", Image: "redis:7"}, `cannot run image "redis:7"`},
		{tandem.Service{Name: "cache", Image: "redis:7", TandemCommand: []string{"redis-server"}}, ""},
	} {
		err := rt.Check(&tc.svc)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.svc, err, tc.want)
		}
		if err != nil && tandem.ErrorCode(err) != tandem.EUNSUPPORTED {
			t.Errorf("code %q", tandem.ErrorCode(err))
		}
	}
	for image, want := range map[string]bool{"postgres:16": true, "postgres": true, "docker.io/library/postgres:15-alpine": true, "postgres@sha256:abc": true, "bitnami/postgresql:16": false, "mypostgres:1": false} {
		if isPostgres(image) != want {
			t.Errorf("isPostgres(%q) = %v", image, !want)
		}
	}
}

func TestHostsFileNamesEveryService(t *testing.T) {
	sc := bufio.NewScanner(bytes.NewReader(hostsFile([]string{"api", "db"})))
	names := map[string]string{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		for _, n := range f[1:] {
			if _, ok := names[n]; !ok {
				names[n] = f[0]
			}
		}
	}
	for _, n := range []string{"api", "db", "localhost"} {
		if names[n] != "127.0.0.1" {
			t.Errorf("%s → %q", n, names[n])
		}
	}
}

const sigterm = syscall.SIGTERM

func TestRunEndsEverythingItStarted(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	pidFile := filepath.Join(dir, "bg.pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out testutil.Buffer
	go func() {
		done <- Run(ctx, Cmd{
			// In the host's network: a server it starts is reachable from here.
			Argv:   []string{"sh", "-c", fmt.Sprintf("setsid /usr/bin/python3 -m http.server %d --bind 127.0.0.1 & echo $! > %s; echo started; wait", port, pidFile)},
			Dir:    dir,
			Env:    []string{"PATH=/usr/bin:/bin"},
			Stdout: &out, Stderr: &out,
		})
	}()
	waitFor(t, "the background server", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	b, _ := os.ReadFile(pidFile)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	// Its pid is inside the namespace; the server is gone from the host's view.
	waitFor(t, "the server to end", 5*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if strings.TrimSpace(string(b)) == "" {
		t.Error("no pid written")
	}
	var ee *tandem.ExitError
	if err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "exit 4"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: dir}); !errors.As(err, &ee) || ee.Code != 4 {
		t.Errorf("exit 4: %v", err)
	}
	if err := Run(context.Background(), Cmd{Argv: []string{"no-such-command"}, Env: []string{"PATH=/usr/bin:/bin"}, Dir: dir, Stderr: &out}); !errors.As(err, &ee) || ee.Code != 127 {
		t.Errorf("missing command: %v", err)
	}
}

func TestPostgresSnapshotAndRestore(t *testing.T) {
	if _, err := New().postgresBins(); err != nil {
		t.Skip(err)
	}
	db := &tandem.Service{Name: "db", Image: "postgres:16", Environment: map[string]string{
		"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop"}}
	client := &tandem.Service{Name: "api", Context: "/", Environment: map[string]string{"PGPASSWORD": "pw"}}
	psql := func(sb *Sandbox, sql string) string {
		t.Helper()
		var out bytes.Buffer
		if err := sb.Exec(context.Background(), client, []string{"psql", "-h", "db", "-U", "app", "-d", "shop", "-tAc", sql}, &out, &out); err != nil {
			t.Fatalf("psql %q: %v: %s", sql, err, out.String())
		}
		return strings.TrimSpace(out.String())
	}
	up := func(sb *Sandbox) tandem.Process {
		t.Helper()
		var out testutil.Buffer
		p, err := sb.Start(context.Background(), db, &out, &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		waitFor(t, "postgres", 30*time.Second, func() bool {
			return sb.Exec(context.Background(), db, []string{"pg_isready", "-U", "app", "-d", "shop"}, io.Discard, io.Discard) == nil
		})
		return p
	}
	down := func(p tandem.Process) {
		p.(*proc).Signal(os.Interrupt) // the image's stop signal: a fast, clean shutdown
		p.Wait()
	}

	seeded := newSandbox(t, "db", "api")
	p := up(seeded)
	psql(seeded, "create table article (title text); insert into article values ('seeded')")
	if _, err := seeded.Snapshot(context.Background(), db); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Errorf("snapshot of a running server: %v", err)
	}
	down(p)
	snap, err := seeded.Snapshot(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}

	// Two instances start from it, each with a copy of its own.
	restore := func() *Sandbox {
		sb, err := testRuntime.NewSandbox(context.Background(), tandem.SandboxSpec{Name: t.Name(), Services: []string{"db", "api"},
			DataDir: t.TempDir(), Restore: map[string]string{"db": snap}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
		return sb.(*Sandbox)
	}
	a := restore()
	pa := up(a)
	defer down(pa)
	if got := psql(a, "select title from article"); got != "seeded" {
		t.Errorf("restored rows: %q", got)
	}
	psql(a, "insert into article values ('only in a')")
	b := restore()
	pb := up(b)
	defer down(pb)
	if got := psql(b, "select count(*) from article"); got != "1" {
		t.Errorf("b sees %s rows: a's write reached the snapshot", got)
	}
}
