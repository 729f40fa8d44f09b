package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// firstUp bounds the first start of the example: npm ci and next build on
// a fresh machine, then migrations.
const firstUp = 6 * time.Minute

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the process runtime makes network namespaces: run the tests as root")
	}
}

// upExample starts tandem up on the example stack and waits until it is up.
func upExample(t testing.TB) (p *tandemProc, base string) {
	t.Helper()
	port := freePort(t)
	file := filepath.Join(repoRoot(t), "examples", "django-nextjs", "docker-compose.yml")
	p = start(t, "up", "-f", file, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir())
	p.waitOutput(t, "django-nextjs is up at", firstUp)
	return p, fmt.Sprintf("http://localhost:%d", port)
}

type response struct {
	status int
	header http.Header
	body   string
}

func fetch(t testing.TB, c *http.Client, method, url string, body io.Reader, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// envelope is the example API's response shape.
type envelope struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
	Error  *string         `json:"error"`
}

func decode(t testing.TB, r response) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("not the envelope (%d): %q", r.status, r.body)
	}
	return e
}

// eventually polls until f returns "" or the time is up, then reports f's last complaint.
func eventually(t testing.TB, what string, timeout time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var seededTitles = []string{"One Origin for Two Servers", "Stripping the API Prefix", "CSRF Behind a Gateway"}

func TestExampleStack(t *testing.T) {
	needRoot(t)
	p, base := upExample(t)
	plain := &http.Client{Timeout: 30 * time.Second}

	t.Run("server-rendered page with seeded rows", func(t *testing.T) {
		r := fetch(t, plain, "GET", base+"/", nil, nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET / = %d %s", r.status, r.header.Get("Content-Type"))
		}
		for _, title := range seededTitles {
			if !strings.Contains(r.body, title) {
				t.Errorf("page lacks seeded title %q", title)
			}
		}
		// The server component called Django by service name.
		if !strings.Contains(r.body, `id="ssr-api-host">api:8000<`) {
			t.Errorf("page does not show Django seeing Host api:8000")
		}
	})

	t.Run("api list endpoint through the gateway", func(t *testing.T) {
		r := fetch(t, plain, "GET", base+"/api/articles/", nil, nil)
		e := decode(t, r)
		if r.status != 200 || e.Status != "success" || e.Error != nil || !strings.Contains(string(e.Data), seededTitles[0]) {
			t.Fatalf("%d %+v", r.status, e)
		}
		r = fetch(t, plain, "GET", base+"/api/search/?q=csrf", nil, nil)
		if e := decode(t, r); r.status != 200 || !strings.Contains(string(e.Data), "CSRF Behind a Gateway") {
			t.Errorf("search: %d %s", r.status, r.body)
		}
		// The upstream's own errors pass through unchanged.
		r = fetch(t, plain, "GET", base+"/api/articles/no-such-article/", nil, nil)
		if e := decode(t, r); r.status != 404 || e.Status != "error" {
			t.Errorf("unknown article: %d %s", r.status, r.body)
		}
		// /api without its slash is redirected to /api/, as nginx does.
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		r = fetch(t, noRedirect, "GET", base+"/api", nil, nil)
		if r.status != 301 || r.header.Get("Location") != "/api/" {
			t.Errorf("GET /api = %d Location %q", r.status, r.header.Get("Location"))
		}
	})

	t.Run("session login through the gateway shows on the next render", func(t *testing.T) {
		sessionLogin(t, base, nil)
	})

	t.Run("token auth passes the Authorization header untouched", func(t *testing.T) {
		r := fetch(t, plain, "POST", base+"/api/auth/token/", strings.NewReader(`{"username":"demo","password":"demo-password"}`),
			map[string]string{"Content-Type": "application/json"})
		var tok struct {
			Token string `json:"token"`
		}
		json.Unmarshal(decode(t, r).Data, &tok)
		if tok.Token == "" {
			t.Fatalf("token: %d %s", r.status, r.body)
		}
		r = fetch(t, plain, "GET", base+"/api/me/", nil, map[string]string{"Authorization": "Token " + tok.Token})
		if r.status != 200 || !strings.Contains(r.body, `"auth":"token"`) || !strings.Contains(r.body, `"demo"`) {
			t.Errorf("me with token: %d %s", r.status, r.body)
		}
		if r := fetch(t, plain, "GET", base+"/api/me/", nil, nil); r.status != 401 {
			t.Errorf("me anonymous: %d", r.status)
		}
	})

	t.Run("Django sees the browser host from the gateway and api:8000 from SSR", func(t *testing.T) {
		r := fetch(t, plain, "GET", base+"/api/echo/", nil, nil)
		var echo struct {
			Host    string            `json:"host"`
			Headers map[string]string `json:"headers"`
		}
		json.Unmarshal(decode(t, r).Data, &echo)
		host := strings.TrimPrefix(base, "http://")
		if echo.Host != host || echo.Headers["x-forwarded-host"] != host || echo.Headers["x-forwarded-proto"] != "http" || echo.Headers["x-real-ip"] != "127.0.0.1" {
			t.Errorf("echo: %s", r.body)
		}
		// Django logs a request after answering it, and tandem's console
		// gathers lines for a moment: wait for them.
		for _, want := range []string{"request host=" + host + " method=GET path=/echo/", "request host=api:8000 method=GET path=/articles/"} {
			eventually(t, "Django's log line", 5*time.Second, func() string {
				if !strings.Contains(p.out.String(), want) {
					return fmt.Sprintf("no %q", want)
				}
				return ""
			})
		}
	})

	t.Run("a stopped service answers 503, and recovers when started", func(t *testing.T) {
		data := flagValue(p, "--data")
		if code, out := run(t, "stop", "api", "--data", data); code != 0 || !strings.Contains(out, "api: stopped") {
			t.Fatalf("stop api: %d %s", code, out)
		}
		r := fetch(t, plain, "GET", base+"/api/articles/", nil, nil)
		if r.status != 503 || r.header.Get("Content-Type") != "application/json" ||
			strings.TrimSpace(r.body) != `{"status":"error","data":null,"error":"api is stopped"}` {
			t.Errorf("stopped api: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
		}
		if code, out := run(t, "stop", "web", "--data", data); code != 0 {
			t.Fatalf("stop web: %d %s", code, out)
		}
		r = fetch(t, plain, "GET", base+"/", nil, nil)
		if r.status != 503 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "web") || strings.Contains(r.body, "127.0.0.1") {
			t.Errorf("stopped web: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
		}
		if code, out := run(t, "start", "api", "web", "--data", data); code != 0 {
			t.Fatalf("start: %d %s", code, out)
		}
		eventually(t, "recovery", 2*time.Minute, func() string {
			if r := fetch(t, plain, "GET", base+"/api/articles/", nil, nil); r.status != 200 {
				return fmt.Sprintf("api %d %s", r.status, r.body)
			}
			if r := fetch(t, plain, "GET", base+"/", nil, nil); r.status != 200 || !strings.Contains(r.body, seededTitles[0]) {
				return fmt.Sprintf("page %d", r.status)
			}
			return ""
		})
		code, out := run(t, "ps", "--data", data)
		if code != 0 || !strings.Contains(out, "api ") || !strings.Contains(out, "healthy") {
			t.Errorf("ps: %d\n%s", code, out)
		}
	})

	t.Run("a second instance of the same stack runs beside it", func(t *testing.T) {
		_, base2 := upExample(t)
		for _, b := range []string{base, base2} {
			r := fetch(t, plain, "GET", b+"/", nil, nil)
			if r.status != 200 || !strings.Contains(r.body, seededTitles[0]) {
				t.Errorf("%s/: %d", b, r.status)
			}
			if r := fetch(t, plain, "GET", b+"/api/articles/", nil, nil); r.status != 200 {
				t.Errorf("%s/api/articles/: %d", b, r.status)
			}
		}
	})

	t.Run("SIGTERM leaves no process and no namespace", func(t *testing.T) {
		procs := descendants(p.cmd.Process.Pid)
		if len(procs) < 5 {
			t.Fatalf("only %d processes under tandem", len(procs))
		}
		var ns string
		for pid := range procs {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil {
				if own, _ := os.Readlink("/proc/self/ns/net"); l != own {
					ns = l
					break
				}
			}
		}
		if ns == "" {
			t.Fatal("no service runs in a namespace of its own")
		}
		p.stop(t, 60*time.Second)
		if p.cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("tandem exited with %d after SIGTERM", p.cmd.ProcessState.ExitCode())
		}
		for pid, started := range procs {
			if started != "" && startTime(pid) == started {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				t.Errorf("pid %d still runs: %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
		if left := processesIn(ns); len(left) > 0 {
			t.Errorf("processes left in the stack's namespace %s: %v", ns, left)
		}
		if !strings.Contains(p.out.String(), "tandem | stopped") {
			t.Errorf("no orderly stop in the output")
		}
	})
}

// flagValue returns the value tandem was started with for flag.
func flagValue(p *tandemProc, flag string) string {
	for i, a := range p.cmd.Args {
		if a == flag && i+1 < len(p.cmd.Args) {
			return p.cmd.Args[i+1]
		}
	}
	return ""
}

func TestUpWithoutPrivilegeSaysWhatIsNeeded(t *testing.T) {
	needRoot(t) // to become someone without privileges
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	// Somewhere nobody can read: a copy of this binary and a stack file.
	dir, err := os.MkdirTemp("", "tandem-nopriv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	self, _ := os.ReadFile(os.Args[0])
	bin := filepath.Join(dir, "tandem")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "compose.yml"), "services:\n  api:\n    build: .\n    command: sleep 100\n")
	cmd := exec.Command(bin, "up", "-f", filepath.Join(dir, "compose.yml"), "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	cmd.Env = []string{"TANDEM_TEST_MAIN=1", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "needs root (or CAP_SYS_ADMIN)") {
		t.Errorf("output: %s", out)
	}
}

// smallStack writes a stack whose web service is built by x-tandem.build and
// served by Python, and whose migrate step fails when FAIL is set.
func smallStack(t testing.TB) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "web", "index.html"), "<h1>hello from web</h1>\n")
	writeFile(t, filepath.Join(dir, "compose.yml"), `x-tandem:
  routes:
    - { path: /, to: web:8000 }
services:
  migrate:
    build: ./web
    command: ["sh", "-c", "echo applying 0001; echo applying 0002; [ -z \"$$FAIL\" ] || { echo 'relation \"shop\" does not exist' >&2; exit 3; }"]
    environment:
      FAIL: ${FAIL:-}
  web:
    build: ./web
    command: /usr/bin/python3 -m http.server 8000 --bind 0.0.0.0 --directory dist
    depends_on:
      migrate: { condition: service_completed_successfully }
    x-tandem:
      build: mkdir -p dist && cp index.html dist/ && echo copied
`)
	return filepath.Join(dir, "compose.yml")
}

func TestUpBuildsOnceAndReportsFailures(t *testing.T) {
	needRoot(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // build stamps of this test only
	file := smallStack(t)
	data := t.TempDir()

	port := freePort(t)
	p := start(t, "up", "-f", file, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data)
	p.waitOutput(t, "is up at", time.Minute)
	out := squeeze(p.out.String())
	for _, want := range []string{"tandem | web: build: mkdir -p dist", "web | copied", "tandem | web: built in "} {
		if !strings.Contains(out, want) {
			t.Errorf("first up: output lacks %q", want)
		}
	}
	r := fetch(t, &http.Client{Timeout: 10 * time.Second}, "GET", fmt.Sprintf("http://localhost:%d/", port), nil, nil)
	if r.status != 200 || !strings.Contains(r.body, "hello from web") {
		t.Errorf("GET /: %d %q", r.status, r.body)
	}
	p.stop(t, 30*time.Second)

	// Nothing changed: the build is skipped. The migration now fails, and
	// so does the start, with the migration's last lines.
	t.Setenv("FAIL", "1")
	p = start(t, "up", "-f", file, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", data)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatal("tandem up did not give up on a failed dependency")
	}
	out = squeeze(p.out.String())
	if code := p.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	for _, want := range []string{
		"tandem | web: build skipped",
		"tandem | migrate exited with code 3; its last lines:\ntandem |   applying 0001\ntandem |   applying 0002\ntandem |   relation \"shop\" does not exist",
		"service web: dependency migrate did not complete successfully: exit code 3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second up: output lacks %q", want)
		}
	}
	if strings.Contains(out, "web | copied") {
		t.Error("the build ran again")
	}
	if strings.Contains(out, "variable is not set") {
		t.Error("a warning about an escaped $$ variable")
	}
}

// squeeze removes the padding of the console's prefixes: "web     | x" → "web | x".
func squeeze(s string) string {
	return regexp.MustCompile(`(?m)^(\S+) +\|`).ReplaceAllString(s, "$1 |")
}

func TestKillNineLeavesNothingAndRestarts(t *testing.T) {
	needRoot(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	file, data := smallStack(t), t.TempDir()
	port := freePort(t)
	p := start(t, "up", "-f", file, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data)
	p.waitOutput(t, "is up at", time.Minute)
	procs := descendants(p.cmd.Process.Pid)
	if len(procs) < 2 {
		t.Fatalf("only %d processes under tandem", len(procs))
	}
	p.cmd.Process.Kill()
	<-p.done
	eventually(t, "services to end with tandem", 10*time.Second, func() string {
		for pid, started := range procs {
			if started != "" && startTime(pid) == started {
				return fmt.Sprintf("pid %d still runs", pid)
			}
		}
		return ""
	})
	// The next tandem up on the same data directory takes over its socket.
	p = start(t, "up", "-f", file, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data)
	p.waitOutput(t, "is up at", time.Minute)
	if r := fetch(t, &http.Client{Timeout: 10 * time.Second}, "GET", fmt.Sprintf("http://localhost:%d/", port), nil, nil); r.status != 200 {
		t.Errorf("after restart: %d", r.status)
	}
	if code, out := run(t, "ps", "--data", data); code != 0 || !strings.Contains(out, "web") {
		t.Errorf("ps after restart: %d %s", code, out)
	}
}

// tandem up runs with the Go runtime's monitor kept out of deep sleep
// (package sysmon): the same process re-executed with GODEBUG's schedtrace,
// which none of its services or shims inherits.
func TestUpKeepsTheRuntimeMonitorAwake(t *testing.T) {
	needRoot(t)
	if strings.Contains(os.Getenv("GODEBUG"), "schedtrace") {
		t.Skip("GODEBUG sets schedtrace already")
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	file, data := smallStack(t), t.TempDir()
	p := start(t, "up", "-f", file, "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", data)
	p.waitOutput(t, "is up at", time.Minute)
	environ := func(pid int) []string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		return strings.Split(string(b), "\x00")
	}
	// /proc/PID/environ is what the process was executed with.
	if env := environ(p.cmd.Process.Pid); !slices.Contains(env, "GODEBUG=schedtrace=2147483647") {
		t.Errorf("tandem up (pid %d) was not re-executed with GODEBUG=schedtrace=2147483647", p.cmd.Process.Pid) // its environment may hold secrets: not printed
	}
	// Still named after its program, as ps and top show it.
	want := filepath.Base(os.Args[0])
	if len(want) > 15 {
		want = want[:15]
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.cmd.Process.Pid)); strings.TrimSpace(string(comm)) != want {
		t.Errorf("tandem up is named %q, want %q", strings.TrimSpace(string(comm)), want)
	}
	procs := descendants(p.cmd.Process.Pid)
	if len(procs) < 2 {
		t.Fatalf("only %d processes under tandem", len(procs))
	}
	for pid := range procs {
		for _, kv := range environ(pid) {
			if strings.Contains(kv, "schedtrace") {
				t.Errorf("pid %d inherited the setting", pid)
			}
		}
	}
	// The runtime prints its scheduler's line only once the machine has been
	// up for 2^31-1 ms (24.8 days), at the start and every period after.
	var up float64
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		fmt.Sscan(string(b), &up)
	}
	if out := p.out.String(); up > 0 && up < 2147483 && strings.Contains(out, "SCHED") {
		t.Errorf("the runtime printed its scheduler trace:\n%s", out)
	}
}
