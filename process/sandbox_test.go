//go:build linux

package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// attackScript tries, from inside an instance, what a hostile pull request
// would: each attempt prints "OK name" when it fails as it must, anything
// else when it does not. Paths come from the environment.
const attackScript = `
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)

def attempt(name, f, *codes):
    try:
        r = f()
        print("BREACH", name, repr(r)[:80], flush=True)
    except OSError as e:
        print("OK" if e.errno in codes else "UNEXPECTED", name, e, flush=True)

def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return "connected to " + path

def call(fn, *args):
    def f():
        if fn(*args) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return "succeeded"
    return f

env = os.environ
attempt("read /etc/shadow", lambda: open("/etc/shadow").read(), errno.EACCES)
attempt("open the other instance's database socket", lambda: connect(env["B_SOCKET"] + "/.s.PGSQL.5432"), errno.ENOENT)
attempt("list the other instance's data", lambda: os.listdir(env["B_DATA"]), errno.ENOENT)
attempt("read the other instance's database files", lambda: open(env["B_PGDATA"] + "/PG_VERSION").read(), errno.ENOENT)
attempt("read tandem.db", lambda: open(env["ROOT"] + "/tandem.db").read(), errno.ENOENT)
attempt("connect to api.sock", lambda: connect(env["ROOT"] + "/api.sock"), errno.ENOENT)
attempt("connect to the other instance's control socket", lambda: connect(env["B_DATA"] + "/tandem.sock"), errno.ENOENT)
attempt("read its own instance's data directory", lambda: os.listdir(env["A_DATA"]), errno.ENOENT)
attempt("setuid(0)", lambda: os.setuid(0), errno.EPERM)
attempt("setgid(0)", lambda: os.setgid(0), errno.EPERM)
image = ctypes.create_string_buffer(b"\x7fELF" + b"\0" * 60)
attempt("init_module", call(libc.init_module, image, ctypes.c_ulong(64), b""), errno.EPERM)
attempt("unshare a user namespace", call(libc.unshare, 0x10000000), errno.EPERM)
attempt("mount", call(libc.mount, b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None), errno.EPERM)
attempt("signal the shim", lambda: os.kill(1, 9), errno.EPERM)
attempt("read the shim's environment", lambda: open("/proc/1/environ").read(), errno.EACCES)
attempt("write /usr", lambda: open("/usr/bin/evil", "w"), errno.EROFS)
attempt("write /etc/hosts", lambda: open("/etc/hosts", "a"), errno.EROFS, errno.EACCES)
attempt("list /root", lambda: os.listdir("/root"), errno.ENOENT)
attempt("write /proc/sys", lambda: open("/proc/sys/kernel/hostname", "w").write("x"), errno.EROFS, errno.EACCES)
open(env["A_TREE"] + "/written-by-a", "w").write("mine")
print("WROTE its work tree", flush=True)
`

// serveFile is one host process listening on a unix socket, as tandem's
// control sockets do.
func listenUnix(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// serveLayout makes two instances laid out as tandem serve lays out
// previews, beside a tandem.db and an api.sock.
func serveLayout(t *testing.T, limits tandem.Limits) (root string, a, b *Sandbox) {
	root = t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "tandem.db"), []byte("every preview's secrets"), 0o600); err != nil {
		t.Fatal(err)
	}
	listenUnix(t, filepath.Join(root, "api.sock"))
	mk := func(name string, l tandem.Limits) *Sandbox {
		dir := filepath.Join(root, "previews", name)
		os.MkdirAll(filepath.Join(dir, "src"), 0o755)
		sb, err := New().NewSandbox(context.Background(), tandem.SandboxSpec{Name: name, Services: []string{"api", "db", "attacker"},
			DataDir: filepath.Join(dir, "data"), WorkTree: filepath.Join(dir, "src"), Limits: l})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
		return sb.(*Sandbox)
	}
	a, b = mk("a", limits), mk("b", tandem.Limits{})
	listenUnix(t, filepath.Join(b.data, "tandem.sock"))
	return root, a, b
}

// keepAsking polls the instance's api until stop, and returns how many
// answers were 200 and how many were not. stop first lets three more
// questions be asked (and at least five in all), so the answers cover the
// time after an attack too, however quickly the attack was over.
func keepAsking(sb *Sandbox, addr string) (stop func() (ok, failed int)) {
	var good, bad atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := &http.Client{Transport: &http.Transport{DialContext: sb.DialContext, DisableKeepAlives: true}, Timeout: 5 * time.Second}
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := c.Get("http://" + addr + "/")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err == nil && resp.StatusCode == 200 {
				good.Add(1)
			} else {
				bad.Add(1)
			}
		}
	}()
	return func() (int, int) {
		want := max(good.Load()+bad.Load()+3, 5)
		for deadline := time.Now().Add(20 * time.Second); good.Load()+bad.Load() < want && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		close(done)
		wg.Wait()
		return int(good.Load()), int(bad.Load())
	}
}

func TestHostileServiceReachesNothingOfOthers(t *testing.T) {
	if _, err := New().postgresBins(); err != nil {
		t.Skip(err)
	}
	root, a, b := serveLayout(t, tandem.Limits{Memory: 256 << 20, Pids: 128})

	// B: a database, and an api that answers throughout.
	db := &tandem.Service{Name: "db", Image: "postgres:16", Environment: map[string]string{"POSTGRES_PASSWORD": "pw"}}
	var dbOut testutil.Buffer
	if _, err := startDB(t, b, db, &dbOut); err != nil {
		t.Fatalf("%v\n%s", err, dbOut.String())
	}
	port := freePort(t)
	if _, err := b.Start(context.Background(), pythonServer("api", port), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("api:%d", port)
	waitFor(t, "b's api", 10*time.Second, func() bool { _, err := get(t, b, addr); return err == nil })
	stop := keepAsking(b, addr)

	// A's attacker, with limits of its own.
	attacker := &tandem.Service{Name: "attacker", Context: a.spec.WorkTree,
		Limits: tandem.Limits{Memory: 64 << 20, Pids: 32},
		Environment: map[string]string{
			"ROOT": root, "A_DATA": a.data, "A_TREE": a.spec.WorkTree, "B_DATA": b.data,
			"B_SOCKET": b.pgSocket, "B_PGDATA": b.pgDataPath(db, mustBins(t).major),
		}}
	var out bytes.Buffer
	if err := a.Exec(context.Background(), attacker, []string{"/usr/bin/python3", "-c", attackScript}, &out, &out); err != nil {
		t.Fatalf("attack script: %v\n%s", err, out.String())
	}
	if n, want := countPrefix(out.String(), "OK "), strings.Count(attackScript, "\nattempt("); n != want {
		t.Errorf("%d of %d attempts failed as they must; the report:\n%s", n, want, out.String())
	}
	// What it may write lands in its work tree, owned by the tree's owner.
	if fi, err := os.Stat(filepath.Join(a.spec.WorkTree, "written-by-a")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("its own work tree: %v %+v", err, fi)
	}

	// Past its memory limit, it is killed: the machine is not.
	out.Reset()
	err := a.Exec(context.Background(), attacker, []string{"/usr/bin/python3", "-c", "x = bytearray(512 << 20); print('allocated')"}, &out, &out)
	var ee *tandem.ExitError
	if !errors.As(err, &ee) || ee.Code != 128+9 || strings.Contains(out.String(), "allocated") {
		t.Errorf("512 MiB under a 64 MiB limit: %v %q", err, out.String())
	}
	// A fork bomb stops at its process limit.
	out.Reset()
	bomb := `
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(3)
            os._exit(0)
        n += 1
except OSError as e:
    print("stopped after", n, "forks:", e)`
	if err := a.Exec(context.Background(), attacker, []string{"/usr/bin/python3", "-c", bomb}, &out, &out); err != nil || !strings.Contains(out.String(), "Resource temporarily unavailable") {
		t.Errorf("fork bomb: %v %q", err, out.String())
	}
	var forks int
	fmt.Sscanf(strings.TrimPrefix(strings.TrimSpace(out.String()), "stopped after "), "%d", &forks)
	if forks >= 32 {
		t.Errorf("forked %d times under a limit of 32", forks)
	}
	ok, failed := stop()
	if failed != 0 || ok < 5 {
		t.Errorf("the other instance answered %d times, failed %d times during the attack", ok, failed)
	}
}

func countPrefix(s, prefix string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// asNobody runs a shell command as the machine's "nobody" and returns its
// output.
func asNobody(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func TestSecondLocalUserReachesNothing(t *testing.T) {
	if _, err := New().postgresBins(); err != nil {
		t.Skip(err)
	}
	sb := newSandbox(t, "db")
	db := &tandem.Service{Name: "db", Image: "postgres:16", Environment: map[string]string{"POSTGRES_PASSWORD": "pw"}}
	var out testutil.Buffer
	if _, err := startDB(t, sb, db, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// A log as tandem writes them, readable in itself.
	os.MkdirAll(filepath.Join(sb.data, "logs"), 0o755)
	os.WriteFile(filepath.Join(sb.data, "logs", "db.log"), []byte("a log line\n"), 0o644)
	pgdata := sb.pgDataPath(db, mustBins(t).major)

	for _, c := range []struct {
		path  string
		mode  os.FileMode
		owner int
	}{
		{sb.data, 0o700, 0}, {sb.runDir, 0o700, 0},
		{sb.pgSocket, 0o700, sb.user.id}, {pgdata, 0o700, sb.user.id}, {filepath.Join(sb.data, "home"), 0o700, sb.user.id},
	} {
		fi, err := os.Stat(c.path)
		if err != nil || fi.Mode().Perm() != c.mode || int(fi.Sys().(*syscall.Stat_t).Uid) != c.owner {
			t.Errorf("%s: %v, want mode %o owned by %d", c.path, fi.Mode(), c.mode, c.owner)
		}
	}
	report := asNobody(t, fmt.Sprintf(`
for f in %[1]s/uid %[1]s/logs/db.log %[2]s/PG_VERSION %[3]s/hosts; do cat "$f" >/dev/null 2>&1 && echo "BREACH read $f"; done
for d in %[1]s %[2]s %[4]s %[1]s/home; do ls "$d" >/dev/null 2>&1 && echo "BREACH list $d"; done
psql -h %[4]s -U postgres -c 'select 1' >/dev/null 2>&1 && echo "BREACH psql over the socket"
/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect("%[4]s/.s.PGSQL.5432")' 2>/dev/null && echo "BREACH connect to the socket"
echo done`, sb.data, pgdata, sb.runDir, sb.pgSocket))
	if strings.TrimSpace(report) != "done" {
		t.Errorf("as nobody:\n%s", report)
	}
	// The instance's own services reach it (the socket works at all).
	var q bytes.Buffer
	if err := sb.Exec(context.Background(), db, []string{"psql", "-U", "postgres", "-tAc", "select current_user"}, &q, &q); err != nil || strings.TrimSpace(q.String()) != "postgres" {
		t.Errorf("psql inside: %v %q", err, q.String())
	}
}

func TestWorkTreeWritesLandAsItsOwner(t *testing.T) {
	sb := newSandbox(t, "web")
	tree := sb.spec.WorkTree
	// The developer's tree (uid 1000), with a file root left in it.
	os.MkdirAll(filepath.Join(tree, "app"), 0o755)
	os.WriteFile(filepath.Join(tree, "app", "page.js"), []byte("v1"), 0o644)
	os.WriteFile(filepath.Join(tree, "app", "roots.txt"), []byte("root's"), 0o644)
	for _, p := range []string{tree, filepath.Join(tree, "app"), filepath.Join(tree, "app", "page.js")} {
		if err := os.Chown(p, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	web := &tandem.Service{Name: "web", Context: filepath.Join(tree, "app")}
	var out bytes.Buffer
	err := sb.Exec(context.Background(), web, []string{"sh", "-c",
		`echo v2 > page.js && mkdir -p .next/cache && echo built > .next/cache/x && stat -c '%u %n' page.js roots.txt; echo more >> roots.txt || echo "roots.txt is not mine"`}, &out, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	id := sb.user.id
	if got := out.String(); !strings.Contains(got, fmt.Sprintf("%d page.js", id)) || !strings.Contains(got, "65534 roots.txt") || !strings.Contains(got, "roots.txt is not mine") {
		t.Errorf("inside:\n%s", got)
	}
	for _, p := range []string{"page.js", ".next", ".next/cache/x"} {
		fi, err := os.Stat(filepath.Join(tree, "app", p))
		if err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 || fi.Sys().(*syscall.Stat_t).Gid != 1000 {
			t.Errorf("%s on the host: %v, owner %d, want 1000", p, err, fi.Sys().(*syscall.Stat_t).Uid)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(tree, "app", "roots.txt")); string(b) != "root's" {
		t.Errorf("root's file became %q", b)
	}
}

func TestDataDirInsideTheWorkTreeIsHidden(t *testing.T) {
	// tandem up's layout: the data directory is .tandem in the project.
	project := t.TempDir()
	data := filepath.Join(project, ".tandem")
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "secrets.json"), []byte(`{"DJANGO_SECRET_KEY":"s3cret"}`), 0o600)
	listenUnix(t, filepath.Join(data, "tandem.sock"))
	os.WriteFile(filepath.Join(project, "manage.py"), []byte("print()"), 0o644)
	sb, err := New().NewSandbox(context.Background(), tandem.SandboxSpec{Name: "local", Services: []string{"api"}, DataDir: data, WorkTree: project})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	var out bytes.Buffer
	err = sb.Exec(context.Background(), &tandem.Service{Name: "api", Context: project}, []string{"sh", "-c",
		`cat manage.py; ls -A .tandem; cat .tandem/secrets.json; /usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(".tandem/tandem.sock")' 2>/dev/null && echo BREACH; mv .tandem elsewhere || echo cannot move it`}, &out, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	if !strings.Contains(got, "print()") || strings.Contains(got, "s3cret") || strings.Contains(got, "BREACH") || !strings.Contains(got, "cannot move it") {
		t.Errorf("inside:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(data, "secrets.json")); err != nil {
		t.Error(err)
	}
}

func TestPathsOutsideTheWorkTreeAreRefused(t *testing.T) {
	sb := newSandbox(t, "api")
	tree := sb.spec.WorkTree
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(tree, "escape"))
	os.Symlink("/etc", filepath.Join(tree, "etc"))
	for _, c := range []struct {
		name string
		svc  tandem.Service
		want string
	}{
		{"context outside", tandem.Service{Context: outside}, "outside the work tree"},
		{"context through a symlink", tandem.Service{Context: filepath.Join(tree, "escape")}, "outside the work tree"},
		{"bind of /etc", tandem.Service{Context: "/", Mounts: []tandem.Mount{{Type: "bind", Source: filepath.Join(tree, "etc"), Target: "/x"}}}, "outside the work tree"},
		{"volume name", tandem.Service{Context: "/", Mounts: []tandem.Mount{{Type: "volume", Source: "../../x", Target: "/x"}}}, "volume name"},
		{"mount on /proc", tandem.Service{Context: "/", Mounts: []tandem.Mount{{Type: "volume", Source: "v", Target: "/proc/sys"}}}, "cannot mount anything on /proc/sys"},
	} {
		c.svc.Name = "api"
		err := sb.Exec(context.Background(), &c.svc, []string{"true"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	for _, tree := range []string{"/", "/etc", "/usr/local", "/home", "/var/lib"} {
		_, err := New().NewSandbox(context.Background(), tandem.SandboxSpec{Name: "x", DataDir: t.TempDir(), WorkTree: tree})
		if err == nil || !strings.Contains(err.Error(), "system directory") {
			t.Errorf("work tree %s: %v", tree, err)
		}
	}
}

func TestInstanceKeepsItsUser(t *testing.T) {
	data := t.TempDir()
	open := func() (*Sandbox, error) {
		sb, err := New().NewSandbox(context.Background(), tandem.SandboxSpec{Name: "x", DataDir: data})
		if err != nil {
			return nil, err
		}
		return sb.(*Sandbox), nil
	}
	a, err := open()
	if err != nil {
		t.Fatal(err)
	}
	id := a.user.id
	if id < uidBase || id >= uidBase+uidCount || systemIDs()[id] {
		t.Errorf("user %d", id)
	}
	// Two sandboxes never share a user: not on one data directory at
	// once, not on two.
	if _, err := open(); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Errorf("a second sandbox on the data directory: %v", err)
	}
	other := newSandbox(t, "x")
	if other.user.id == id {
		t.Errorf("two instances run as %d", id)
	}
	// Across a restart (of the sandbox, or of tandem), the same user.
	a.Close()
	b, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if b.user.id != id {
		t.Errorf("reopened as %d, was %d", b.user.id, id)
	}
	b.Close()
	// A destroyed instance's user is free again.
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	if ownsID(data, id) || held(id) {
		t.Errorf("user %d still taken after its instance's data was removed", id)
	}
}

func TestLimitsThatCannotApplyAreSaid(t *testing.T) {
	// A machine without cgroups: what is not applied is said, naming the
	// instance, once.
	none := &cgroupFS{v1: map[string]string{}, v2ctl: map[string]bool{}}
	g, notes := instanceCgroup(none, 1, tandem.Limits{Memory: 1 << 30, Pids: 100})
	if g != nil || len(notes) != 1 || !strings.Contains(notes[0], "not applied") {
		t.Errorf("no cgroups: %v %v", g, notes)
	}
	sb := newSandbox(t, "api")
	sb.notes = notes
	var said bytes.Buffer
	for range 2 {
		if err := sb.Exec(context.Background(), &tandem.Service{Name: "api", Context: "/"}, []string{"true"}, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		p, err := sb.Start(context.Background(), &tandem.Service{Name: "api", Context: "/", Command: []string{"true"}}, io.Discard, &said)
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
	}
	if want := "tandem: instance " + sb.spec.Name + ": limits (memory 1g, cpus 0, pids 100) not applied"; strings.Count(said.String(), want) != 1 {
		t.Errorf("said %q, want %q once", said.String(), want)
	}

	// cgroup v2 where it holds the controllers (a fake hierarchy: the
	// files are what the kernel reads), and a controller it lacks.
	v2 := t.TempDir()
	os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("memory pids"), 0o644)
	fs := &cgroupFS{v1: map[string]string{}, v2: v2, v2ctl: map[string]bool{"memory": true, "pids": true}}
	g, err := fs.create("tandem/u7/s-api")
	if err != nil {
		t.Fatal(err)
	}
	missed := g.limit(tandem.Limits{Memory: 512 << 20, CPUs: 1.5, Pids: 64})
	for file, want := range map[string]string{"tandem/u7/s-api/memory.max": "536870912", "tandem/u7/s-api/pids.max": "64", "tandem/cgroup.subtree_control": "+pids"} {
		if b, _ := os.ReadFile(filepath.Join(v2, file)); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
	}
	if len(missed) != 1 || !strings.Contains(missed[0], "CPU limit 1.5 not applied: this machine has no cpu cgroup controller") {
		t.Errorf("missed %v", missed)
	}
	if p := g.procs(true); len(p) != 1 || p[0] != filepath.Join(v2, "tandem/u7/s-api/cgroup.procs") {
		t.Errorf("procs %v", p)
	}
}

func TestStaleCgroupsAreSwept(t *testing.T) {
	fs := cgroups()
	if len(fs.hierarchies()) == 0 {
		t.Skip("no cgroups here")
	}
	// Left by a tandem that died: its user's lock is free.
	id := uidBase + uidCount - 1
	g, err := fs.create(fmt.Sprintf("%s/u%d/s-api", cgroupRoot, id))
	if err != nil {
		t.Fatal(err)
	}
	// One of a running sandbox stays.
	live := newSandbox(t, "api")
	fs.sweep()
	for _, d := range g.dirs {
		if _, err := os.Stat(filepath.Dir(d)); !os.IsNotExist(err) {
			t.Errorf("%s: %v", d, err)
		}
	}
	for _, d := range live.cg.dirs {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("a live sandbox's cgroup: %v", err)
		}
	}
}

func TestRunIsSandboxed(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".tandem"), 0o700)
	os.WriteFile(filepath.Join(dir, ".tandem", "secrets.json"), []byte("s3cret"), 0o600)
	var out bytes.Buffer
	err := Run(context.Background(), Cmd{
		Argv: []string{"sh", "-c", `id -u; echo "home=$HOME"; touch built; cat .tandem/secrets.json; ls /root; grep -c Cap /proc/self/status >/dev/null; grep CapEff /proc/self/status`},
		Dir:  dir, Env: []string{"PATH=/usr/bin:/bin", "HOME=/root"}, Stdout: &out, Stderr: &out,
		Limits: tandem.Limits{Pids: 50},
	})
	var ee *tandem.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	got := out.String()
	var uid int
	fmt.Sscan(got, &uid)
	if uid < uidBase || !strings.Contains(got, "home=/home/tandem") || strings.Contains(got, "s3cret") ||
		!strings.Contains(got, "CapEff:\t0000000000000000") || !strings.Contains(got, "'/root': No such file") {
		t.Errorf("inside:\n%s", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "built")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("what it wrote: %v", err)
	}
	if held(uid) {
		t.Errorf("user %d still held after the run", uid)
	}
}

func TestCPUControllerOnlyUnderACPULimit(t *testing.T) {
	fs := cgroups()
	if fs.v1["cpu"] == "" {
		t.Skip("no v1 cpu hierarchy here")
	}
	sb := newSandbox(t, "free", "limited")
	members := func(name string, l tandem.Limits) (mem, cpu string) {
		svc := &tandem.Service{Name: name, Context: "/", Command: []string{"sleep", "60"}, Limits: l}
		p, err := sb.Start(context.Background(), svc, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop(context.Background(), 0)
		rel := filepath.Join(cgroupRoot, fmt.Sprintf("u%d", sb.user.id), "s-"+name, "cgroup.procs")
		m, _ := os.ReadFile(filepath.Join(fs.holder("memory"), rel))
		c, _ := os.ReadFile(filepath.Join(fs.v1["cpu"], rel))
		return strings.TrimSpace(string(m)), strings.TrimSpace(string(c))
	}
	// Without a CPU limit, scheduled as any process of the machine.
	if mem, cpu := members("free", tandem.Limits{Memory: 1 << 30}); mem == "" || cpu != "" {
		t.Errorf("no CPU limit: memory cgroup %q, cpu cgroup %q", mem, cpu)
	}
	if mem, cpu := members("limited", tandem.Limits{CPUs: 0.5}); mem == "" || cpu == "" {
		t.Errorf("CPU limit: memory cgroup %q, cpu cgroup %q", mem, cpu)
	}
	b, _ := os.ReadFile(filepath.Join(fs.v1["cpu"], cgroupRoot, fmt.Sprintf("u%d", sb.user.id), "s-limited", "cpu.cfs_quota_us"))
	if strings.TrimSpace(string(b)) != "50000" {
		t.Errorf("cpu.cfs_quota_us = %q", b)
	}
}
