package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hostileServer is an api that, asked for /attack, /oom or /forkbomb,
// tries from inside its instance what a hostile pull request would, and
// answers with what happened. Every other path answers "ok".
const hostileServer = `
import ctypes, errno, http.server, os, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)

def attempt(out, name, f, *codes):
    try:
        r = f()
        out.append("BREACH %s: %r" % (name, r))
    except OSError as e:
        out.append(("OK %s: %s" if e.errno in codes else "UNEXPECTED %s: %s") % (name, e))

def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return "connected"

def call(fn, *args):
    def f():
        if fn(*args) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    return f

def attack():
    out, env = [], os.environ
    attempt(out, "read /etc/shadow", lambda: open("/etc/shadow").read(), errno.EACCES)
    attempt(out, "read tandem.db", lambda: open(".tandem/tandem.db").read(), errno.EACCES, errno.ENOENT)
    attempt(out, "read the secrets", lambda: open(".tandem/secrets.json").read(), errno.EACCES, errno.ENOENT)
    attempt(out, "connect to its own control socket", lambda: connect(".tandem/tandem.sock"), errno.EACCES, errno.ENOENT)
    attempt(out, "connect to the other instance's control socket", lambda: connect(env["B_DATA"] + "/tandem.sock"), errno.ENOENT)
    attempt(out, "open the other instance's database socket", lambda: connect(env["B_DATA"] + "/run/postgresql/.s.PGSQL.5432"), errno.ENOENT)
    attempt(out, "list the other instance's data", lambda: os.listdir(env["B_DATA"]), errno.ENOENT)
    attempt(out, "setuid(0)", lambda: os.setuid(0), errno.EPERM)
    image = ctypes.create_string_buffer(b"\x7fELF" + b"\0" * 60)
    attempt(out, "init_module", call(libc.init_module, image, ctypes.c_ulong(64), b""), errno.EPERM)
    attempt(out, "unshare a user namespace", call(libc.unshare, 0x10000000), errno.EPERM)
    # A file insmod reads and hands to the kernel, which must refuse it.
    open("/tmp/evil.ko", "wb").write(b"\x7fELF" + b"\0" * 60)
    try:
        r = subprocess.run(["insmod", "/tmp/evil.ko"], capture_output=True, text=True)
        ok = r.returncode != 0 and "Operation not permitted" in r.stderr
        out.append(("OK insmod: %s" if ok else "BREACH insmod: %s") % (r.stderr.strip() or r.returncode))
    except FileNotFoundError:
        out.append("SKIP insmod: not installed")
    return out

def oom():
    r = subprocess.run([sys.executable, "-c", "x = bytearray(512 << 20); print('allocated')"], capture_output=True, text=True)
    return ["exit %d %s" % (r.returncode, r.stdout.strip())]

def forkbomb():
    n = 0
    try:
        while True:
            if os.fork() == 0:
                import time; time.sleep(3); os._exit(0)
            n += 1
    except OSError as e:
        return ["stopped after %d forks: %s" % (n, e)]

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        lines = {"/attack": attack, "/oom": oom, "/forkbomb": forkbomb}.get(self.path, lambda: ["ok"])()
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass

http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
`

// hostileStacks writes two projects: a, whose api is hostile, runs from the
// project's root (so tandem up's .tandem is inside what it sees), under
// limits; b, an api and a database that must keep answering.
func hostileStacks(t *testing.T, bData string) (a, b string) {
	a, b = t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "server.py"), hostileServer)
	writeFile(t, filepath.Join(a, "compose.yml"), fmt.Sprintf(`x-tandem:
  routes: [{ path: /, to: api:8000 }]
  preview:
    secrets: [DJANGO_SECRET_KEY]
services:
  api:
    build: .
    command: ["/usr/bin/python3", "server.py"]
    mem_limit: 96m
    pids_limit: 48
    environment:
      B_DATA: %s
      SECRET_KEY: ${DJANGO_SECRET_KEY}
`, bData))
	writeFile(t, filepath.Join(b, "compose.yml"), `x-tandem:
  routes: [{ path: /, to: api:8000 }]
services:
  db:
    image: postgres:16
    environment: { POSTGRES_PASSWORD: pw }
  api:
    build: .
    command: ["/usr/bin/python3", "-m", "http.server", "8000"]
`)
	writeFile(t, filepath.Join(b, "index.html"), "b is fine\n")
	return a, b
}

func TestHostileStackReachesNothingOfOthers(t *testing.T) {
	needRoot(t)
	bData := t.TempDir()
	a, b := hostileStacks(t, bData)
	// A tandem.db as tandem serve keeps, where a is started.
	writeFile(t, filepath.Join(a, ".tandem", "tandem.db"), "every preview's secrets")

	pb := freePort(t)
	tb := start(t, "up", "-f", filepath.Join(b, "compose.yml"), "--listen", fmt.Sprintf("127.0.0.1:%d", pb), "--data", bData)
	tb.waitOutput(t, "is up at", 2*time.Minute)
	pa := freePort(t)
	ta := start(t, "up", "-f", filepath.Join(a, "compose.yml"), "--listen", fmt.Sprintf("127.0.0.1:%d", pa))
	ta.waitOutput(t, "is up at", 2*time.Minute)

	// b answers throughout.
	var good, bad atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", pb))
			if err == nil && resp.StatusCode == 200 {
				good.Add(1)
			} else {
				bad.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}
	}()

	c := &http.Client{Timeout: 2 * time.Minute}
	ask := func(path string) string {
		r := fetch(t, c, "GET", fmt.Sprintf("http://127.0.0.1:%d%s", pa, path), nil, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		return r.body
	}
	report := ask("/attack")
	t.Logf("from inside a:\n%s", report)
	if ok, want := strings.Count(report, "OK "), 11-strings.Count(report, "SKIP "); ok != want || strings.Contains(report, "BREACH") || strings.Contains(report, "UNEXPECTED") {
		t.Errorf("%d of %d attempts failed as they must:\n%s", ok, want, report)
	}
	if got := ask("/oom"); !strings.HasPrefix(got, "exit -9") {
		t.Errorf("512 MiB under mem_limit 96m: %q", got)
	}
	got := ask("/forkbomb")
	var forks int
	if _, err := fmt.Sscanf(got, "stopped after %d forks", &forks); err != nil || forks >= 48 || !strings.Contains(got, "Resource temporarily unavailable") {
		t.Errorf("fork bomb under pids_limit 48: %q", got)
	}
	// a answers again once the bomb's children (each lives 3 s) are gone:
	// until then its server may have no task left for a thread.
	eventually(t, "a after the attacks", 30*time.Second, func() string {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", pa))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "ok\n" {
			return fmt.Sprintf("%d %q", resp.StatusCode, b)
		}
		return ""
	})
	// Three more questions (five at least in all) after the attacks: on a
	// quick machine they are over before b was asked five times.
	want := max(good.Load()+bad.Load()+3, 5)
	for deadline := time.Now().Add(20 * time.Second); good.Load()+bad.Load() < want && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	close(done)
	wg.Wait()
	if bad.Load() != 0 || good.Load() < 5 {
		t.Errorf("b answered %d times and failed %d times during the attacks", good.Load(), bad.Load())
	}

	// Killed with -9, a leaves no process; the cgroup its instance had is
	// gone once any tandem starts next.
	uid, _ := os.ReadFile(filepath.Join(a, ".tandem", "uid"))
	cg := filepath.Join("/sys/fs/cgroup/pids/tandem", "u"+strings.TrimSpace(string(uid)))
	if _, err := os.Stat(cg); err != nil {
		t.Skipf("no pids cgroup for a (%v): nothing to sweep", err)
	}
	procs := descendants(ta.cmd.Process.Pid)
	ta.cmd.Process.Signal(syscall.SIGKILL)
	<-ta.done
	eventually(t, "a's processes to end", 10*time.Second, func() string {
		for pid, started := range procs {
			if started != "" && startTime(pid) == started {
				return fmt.Sprintf("pid %d still runs", pid)
			}
		}
		return ""
	})
	tc := start(t, "up", "-f", filepath.Join(b, "compose.yml"), "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", t.TempDir())
	tc.waitOutput(t, "is up at", 2*time.Minute)
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("%s after a's kill -9 and another start: %v", cg, err)
	}
}

func TestSecondLocalUserReachesNoInstance(t *testing.T) {
	needRoot(t)
	nobody := func(script string) string {
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Dir, cmd.Env = "/", []string{"PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	_, b := hostileStacks(t, "unused")
	writeFile(t, filepath.Join(b, "compose.yml"), strings.Replace(mustRead(t, filepath.Join(b, "compose.yml")), "x-tandem:\n", "x-tandem:\n  preview:\n    secrets: [DJANGO_SECRET_KEY]\n", 1))
	port := freePort(t)
	p := start(t, "up", "-f", filepath.Join(b, "compose.yml"), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	p.waitOutput(t, "is up at", 2*time.Minute)
	data := filepath.Join(b, ".tandem")
	eventually(t, "the instance's files", time.Minute, func() string {
		for _, f := range []string{"secrets.json", "tandem.sock", "logs/db.log", "run/postgresql/.s.PGSQL.5432"} {
			if _, err := os.Stat(filepath.Join(data, f)); err != nil {
				return err.Error()
			}
		}
		return ""
	})
	report := nobody(fmt.Sprintf(`
cd %[1]s 2>/dev/null && echo "BREACH cd into the data directory"
for f in secrets.json logs/db.log logs/tandem.log uid run/hosts; do cat "%[1]s/$f" >/dev/null 2>&1 && echo "BREACH read $f"; done
ls %[1]s/services >/dev/null 2>&1 && echo "BREACH list the databases"
psql -h %[1]s/run/postgresql -U postgres -c 'select 1' >/dev/null 2>&1 && echo "BREACH psql"
/usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("%[1]s/tandem.sock")' 2>/dev/null && echo "BREACH control socket"
echo done`, data))
	if strings.TrimSpace(report) != "done" {
		t.Errorf("as nobody:\n%s", report)
	}
	if r := fetch(t, &http.Client{Timeout: 10 * time.Second}, "GET", fmt.Sprintf("http://127.0.0.1:%d/", port), nil, nil); r.status != 200 {
		t.Errorf("the instance itself: %d", r.status)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
