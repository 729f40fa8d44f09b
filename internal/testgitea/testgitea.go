// Package testgitea runs a real Gitea for tests: the binary scripts/build-gitea
// makes (named by $TANDEM_GITEA), on a private PostgreSQL from the
// machine's binaries, as an unprivileged user, on loopback ports. Tests that
// need it skip when $TANDEM_GITEA is not set (make test-forge sets it).
package testgitea

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RunAs is the user Gitea and its PostgreSQL run as: both refuse root.
const RunAs = "tandem-gitea"

// Gitea is a running Gitea with an admin user and a second, plain user.
type Gitea struct {
	URL        string // http://127.0.0.1:PORT
	Admin      string // user name
	AdminToken string
	User       string // a user without rights in the admin's repositories
	UserToken  string

	t     testing.TB
	bin   string
	dir   string
	cred  *syscall.Credential
	ini   string
	gitea *exec.Cmd
	pg    *exec.Cmd
}

// Start starts Gitea, or skips the test if $TANDEM_GITEA is not set.
func Start(t testing.TB) *Gitea {
	t.Helper()
	bin := os.Getenv("TANDEM_GITEA")
	if bin == "" {
		t.Skip("set TANDEM_GITEA to Gitea's binary (make test-forge does, with scripts/build-gitea)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: Gitea runs as a user of its own")
	}
	g := &Gitea{t: t, bin: bin, Admin: "tandem-admin", User: "bob"}
	g.cred = ensureUser(t)
	dir, err := os.MkdirTemp("", "testgitea-")
	if err != nil {
		t.Fatal(err)
	}
	g.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	os.Chown(dir, int(g.cred.Uid), int(g.cred.Gid))
	pgPort := g.startPostgres()
	g.startGitea(pgPort)
	g.AdminToken = g.makeUser(g.Admin, true)
	g.UserToken = g.makeUser(g.User, false)
	return g
}

func ensureUser(t testing.TB) *syscall.Credential {
	u, err := user.Lookup(RunAs)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", RunAs).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v %s", RunAs, err, out)
		}
		if u, err = user.Lookup(RunAs); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// command runs as RunAs, in the Gitea's directory.
func (g *Gitea) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = g.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: g.cred, Setpgid: true}
	cmd.Env = []string{"HOME=" + g.dir, "USER=" + RunAs, "PATH=/usr/local/bin:/usr/bin:/bin", "GITEA_WORK_DIR=" + g.dir, "LC_ALL=C"}
	return cmd
}

func (g *Gitea) run(name string, args ...string) string {
	g.t.Helper()
	out, err := g.command(name, args...).CombinedOutput()
	if err != nil {
		g.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func pgBin(name string) string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		return name
	}
	return found[len(found)-1]
}

// startPostgres starts a PostgreSQL of Gitea's own and returns its port.
func (g *Gitea) startPostgres() int {
	t := g.t
	data := filepath.Join(g.dir, "pg")
	g.run(pgBin("initdb"), "-D", data, "-U", "gitea", "--auth=trust", "--no-sync", "-E", "UTF8")
	port := freePort(t)
	g.pg = g.command(pgBin("postgres"), "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+g.dir, "-c", "fsync=off")
	pgDone := startProc(t, g.pg)
	t.Cleanup(func() { stopProc(g.pg, pgDone) })
	waitFor(t, time.Minute, "PostgreSQL", func() bool {
		return g.command(pgBin("pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(port)).Run() == nil
	})
	g.run(pgBin("createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "gitea", "gitea")
	return port
}

func (g *Gitea) startGitea(pgPort int) {
	t := g.t
	port := freePort(t)
	g.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	src := filepath.Join(filepath.Dir(g.bin), "src")
	g.ini = filepath.Join(g.dir, "app.ini")
	ini := appIni(g.dir, src, g.URL, pgPort, port)
	if err := os.WriteFile(g.ini, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(g.ini, int(g.cred.Uid), int(g.cred.Gid))
	g.gitea = g.command(g.bin, "web", "--config", g.ini, "--work-path", g.dir)
	exited := startProc(t, g.gitea)
	t.Cleanup(func() {
		stopProc(g.gitea, exited)
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(g.dir, "log", "gitea.log"))
			t.Logf("gitea's log (end):\n%s", tail(string(b), 4000))
		}
	})
	waitFor(t, 3*time.Minute, "Gitea's API", func() bool {
		select {
		case <-exited:
			t.Fatalf("gitea exited: %s", tail(fmt.Sprint(g.gitea.Stdout), 3000))
		default:
		}
		resp, err := http.Get(g.URL + "/api/v1/version")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// appIni is Gitea's configuration: PostgreSQL, loopback only, no mail, no
// SSH, webhooks allowed to loopback (where tandem listens in the tests).
func appIni(dir, src, url string, pgPort, port int) string {
	return fmt.Sprintf(`APP_NAME = tandem tests
RUN_USER = %s
RUN_MODE = prod
WORK_PATH = %s

[database]
DB_TYPE = postgres
HOST = 127.0.0.1:%d
NAME = gitea
USER = gitea
PASSWD =
SSL_MODE = disable

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %d
ROOT_URL = %s/
STATIC_ROOT_PATH = %s
APP_DATA_PATH = %s/data
DISABLE_SSH = true
OFFLINE_MODE = true
LFS_START_SERVER = false

[repository]
ROOT = %s/repositories

[security]
INSTALL_LOCK = true
SECRET_KEY = %s
INTERNAL_TOKEN = %s

[oauth2]
ENABLED = false

[webhook]
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 20

[service]
DISABLE_REGISTRATION = true

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[log]
MODE = file
LEVEL = Info
ROOT_PATH = %s/log
`, RunAs, dir, pgPort, port, url, src, dir, dir, random(), random()+random(), dir)
}

// makeUser creates a user and returns an access token of theirs.
func (g *Gitea) makeUser(name string, admin bool) string {
	args := []string{"admin", "user", "create", "--config", g.ini, "--work-path", g.dir, "--username", name,
		"--password", "pw-" + random(), "--email", name + "@example.com", "--must-change-password=false"}
	if admin {
		args = append(args, "--admin")
	}
	g.run(g.bin, args...)
	out := g.run(g.bin, "admin", "user", "generate-access-token", "--config", g.ini, "--work-path", g.dir,
		"--username", name, "--token-name", "tests", "--scopes", "all", "--raw")
	return strings.TrimSpace(lastLine(out))
}

// API calls Gitea's API as the user whose token is given, and decodes the
// answer into out (if not nil). It fails the test on a status >= 300.
func (g *Gitea) API(token, method, path string, body, out any) {
	g.t.Helper()
	if code := g.Try(token, method, path, body, out); code >= 300 {
		g.t.Fatalf("%s %s: %d", method, path, code)
	}
}

// Try is API that returns the status instead of failing.
func (g *Gitea) Try(token, method, path string, body, out any) int {
	g.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.URL+"/api/v1"+path, r)
	req.Header.Set("Authorization", "token "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		g.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	} else if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// Push pushes refspecs from the git repository at dir to owner/repo, as
// the user whose token is given.
func (g *Gitea) Push(dir, token, owner, repo string, refspecs ...string) {
	g.t.Helper()
	args := append([]string{"-C", dir, "-c", "http.extraHeader=Authorization: token " + token,
		"push", "--quiet", "--force", g.URL + "/" + owner + "/" + repo + ".git"}, refspecs...)
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		g.t.Fatalf("git push %s/%s: %v\n%s", owner, repo, err, strings.ReplaceAll(string(out), token, "[token]"))
	}
	// Gitea takes a push in asynchronously: wait until its API shows each
	// branch at the commit pushed.
	for _, spec := range refspecs {
		branch := spec[strings.LastIndex(spec, ":")+1:]
		sha, err := exec.Command("git", "-C", dir, "rev-parse", strings.TrimPrefix(strings.Split(spec, ":")[0], "+")).Output()
		if err != nil {
			g.t.Fatal(err)
		}
		waitFor(g.t, time.Minute, "branch "+branch+" in Gitea", func() bool {
			var b struct {
				Commit struct {
					ID string `json:"id"`
				} `json:"commit"`
			}
			return g.quiet(token, "GET", "/repos/"+owner+"/"+repo+"/branches/"+branch, &b) == 200 && b.Commit.ID == strings.TrimSpace(string(sha))
		})
	}
}

// quiet is a GET that logs nothing, for polling.
func (g *Gitea) quiet(token, method, path string, out any) int {
	req, _ := http.NewRequest(method, g.URL+"/api/v1"+path, nil)
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// CloneURL is where git fetches owner/repo.
func (g *Gitea) CloneURL(owner, repo string) string { return g.URL + "/" + owner + "/" + repo + ".git" }

// startProc starts cmd in its own process group; the channel closes when
// it has exited.
func startProc(t testing.TB, cmd *exec.Cmd) chan struct{} {
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return done
}

// stopProc ends a process group started by startProc: SIGTERM, then
// SIGKILL if it lingers.
func stopProc(cmd *exec.Cmd, done chan struct{}) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not up within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
