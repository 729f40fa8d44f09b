package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-dev/tandem/internal/testutil"
	"github.com/tandem-dev/tandem/process"
)

// The test binary doubles as tandem: run with TANDEM_TEST_MAIN=1 it is the
// real program, so tests can signal it as a separate process.
func TestMain(m *testing.M) {
	process.Init()
	if os.Getenv("TANDEM_TEST_MAIN") == "1" {
		keepMonitorAwake(os.Args[1:])
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "tandem-test-builds-")
	if err == nil {
		sharedBuilds.dir = dir
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs tandem in-process and returns its exit status and output.
func run(t testing.TB, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &out, &out)
	return code, out.String()
}

// tandemProc is tandem running as a separate process.
type tandemProc struct {
	cmd  *exec.Cmd
	out  *testutil.Buffer
	done chan struct{}
	err  error
}

// start runs tandem with args as its own process, in dir.
func start(t testing.TB, args ...string) *tandemProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TANDEM_TEST_MAIN=1")
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &tandemProc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t, 60*time.Second)
		if t.Failed() {
			t.Logf("tandem %s output:\n%s", strings.Join(args, " "), lastLines(out.String(), 80))
		}
	})
	return p
}

// stop sends SIGTERM and waits, killing tandem if it takes longer than timeout.
func (p *tandemProc) stop(t testing.TB, timeout time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Errorf("tandem did not stop within %s of SIGTERM", timeout)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// waitOutput waits until tandem prints want, or fails if it exits first.
func (p *tandemProc) waitOutput(t testing.TB, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.String(), want) {
		select {
		case <-p.done:
			t.Fatalf("tandem exited (%v) before printing %q", p.err, want)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tandem did not print %q within %s", want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// repoRoot is the module's root, where examples/ is.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s", dir)
	}
	return dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "tandem ") {
		t.Errorf("version: %d %q", code, out)
	}
	code, out = run(t, "up", "--help")
	for _, want := range []string{"--listen", "--data", "-f, --file", "x-tandem.build"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("up --help lacks %q:\n%s", want, out)
		}
	}
	code, out = run(t, "frobnicate")
	if code != 1 || !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, out)
	}
}

func TestNoComposeFile(t *testing.T) {
	t.Chdir(t.TempDir())
	code, out := run(t, "check")
	if code != 1 || !strings.Contains(out, "no Compose file in") || !strings.Contains(out, "-f") {
		t.Errorf("%d %q", code, out)
	}
}

func TestPsWithoutRunningUp(t *testing.T) {
	dir := t.TempDir()
	code, out := run(t, "ps", "--data", dir)
	if code != 1 || !strings.Contains(out, "no tandem up is running") {
		t.Errorf("%d %q", code, out)
	}
}

// processesIn lists the processes whose network namespace is ns.
func processesIn(ns string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net")); err == nil && l == ns {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			out = append(out, fmt.Sprintf("%s %s", e.Name(), bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return out
}

// descendants lists every process below pid, with its start time, so a
// recycled pid is not mistaken for a survivor.
func descendants(pid int) map[int]string {
	all := map[int]string{}
	var walk func(int)
	walk = func(p int) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, c := range strings.Fields(string(b)) {
				var child int
				fmt.Sscan(c, &child)
				all[child] = startTime(child)
				walk(child)
			}
		}
	}
	walk(pid)
	return all
}

func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 20 || f[0] == "Z" {
		return ""
	}
	return f[19]
}
