//go:build linux

package mixed

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/docker"
	"github.com/tandem-dev/tandem/internal/testutil"
	"github.com/tandem-dev/tandem/process"
	"github.com/tandem-dev/tandem/runtimetest"
)

func TestMain(m *testing.M) {
	process.Init() // the process runtime's shim is this binary
	os.Exit(m.Run())
}

// testRuntime is the mixed runtime on this machine's engine, or skips.
func testRuntime(t *testing.T) *Runtime {
	t.Helper()
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("the tests' services use busybox: apt-get install busybox-static")
	}
	snaps := t.TempDir()
	r := New(&process.Runtime{SnapshotDir: snaps}, &docker.Runtime{SnapshotDir: snaps})
	if err := r.Process.Available(context.Background()); err != nil {
		t.Skipf("the process runtime cannot run here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Docker.Available(ctx); err != nil {
		t.Skipf("no Docker Engine answers, so mixed instances are not tested (make test-docker starts one): %v", err)
	}
	return r
}

func procService(name, script string) *tandem.Service {
	return &tandem.Service{Name: name, Context: "/", Command: []string{"/bin/sh", "-c", script}, StopSignal: "SIGTERM"}
}

// The conformance suite, with every service a process in the namespace of
// a docker holder.
func TestConformance(t *testing.T) {
	r := testRuntime(t)
	runtimetest.Run(t, runtimetest.Config{
		Runtime: r,
		Service: func(name, script string, env map[string]string) *tandem.Service {
			svc := procService(name, script)
			svc.Environment = env
			return svc
		},
		// postgres:* runs as the process runtime's server where the
		// machine has PostgreSQL's programs.
		Postgres: func(name string) *tandem.Service {
			svc := &tandem.Service{Name: name, Image: "postgres:16", StopSignal: "SIGINT", Environment: map[string]string{
				"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop", "PGPASSWORD": "pw"}}
			if r.InContainer(svc) {
				return nil
			}
			return svc
		},
	})
}

// An image service runs as a container beside processes: each reaches the
// other by service name, and the gateway reaches both.
func TestImageBesideProcesses(t *testing.T) {
	r := testRuntime(t)
	cli := exec.Command("docker", "image", "inspect", "redis:7")
	if err := cli.Run(); err != nil {
		t.Fatalf("the test image redis:7 is missing: run scripts/test-images (make test-docker does)")
	}
	ctx := context.Background()
	sb, err := r.NewSandbox(ctx, tandem.SandboxSpec{Name: "mix", Services: []string{"redis", "app", "probe"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	redis := &tandem.Service{Name: "redis", Image: "redis:7", StopSignal: "SIGTERM"}
	app := procService("app", `cd /tmp && mkdir -p www && echo "from a process" > www/index.html && exec busybox httpd -f -p 8000 -h www`)
	probe := &tandem.Service{Name: "probe", Image: "local/busybox", StopSignal: "SIGTERM"}
	if r.Check(redis) != nil || !r.InContainer(redis) || r.InContainer(app) {
		t.Fatalf("redis:7 must run as a container and app as a process")
	}
	var out testutil.Buffer
	for _, svc := range []*tandem.Service{redis, app} {
		p, err := sb.Start(ctx, svc, &out, &out)
		if err != nil {
			t.Fatalf("start %s: %v", svc.Name, err)
		}
		t.Cleanup(func() { p.Stop(context.Background(), 0) })
	}
	// The process reaches the container by name.
	waitFor(t, "redis to answer the process", func() bool {
		var got bytes.Buffer
		err := sb.Exec(ctx, app, []string{"/bin/sh", "-c", `printf 'PING\r\n' | busybox nc -w 2 redis 6379`}, &got, &got)
		return err == nil && strings.Contains(got.String(), "PONG")
	})
	// A container reaches the process by name.
	var got bytes.Buffer
	waitFor(t, "the process to answer a container", func() bool {
		got.Reset()
		err := sb.Exec(ctx, probe, []string{"wget", "-q", "-O", "-", "http://app:8000/"}, &got, &got)
		return err == nil && strings.TrimSpace(got.String()) == "from a process"
	})
	// The gateway's dialer reaches the process; and the container's port.
	c := &http.Client{Transport: &http.Transport{DialContext: sb.DialContext}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://app:8000/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "from a process" {
		t.Errorf("gateway to app: %q", body)
	}
	conn, err := sb.DialContext(ctx, "tcp", "redis:6379")
	if err != nil {
		t.Fatalf("gateway to redis: %v\n%s", err, out.String())
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "PING\r\n")
	b := make([]byte, 16)
	n, _ := conn.Read(b)
	conn.Close()
	if !strings.Contains(string(b[:n]), "PONG") {
		t.Errorf("redis answered %q through the gateway's dialer", b[:n])
	}
	if err := sb.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=dev.tandem.instance=mix").Output(); len(bytes.TrimSpace(ids)) > 0 {
		t.Errorf("containers left after Close: %s", ids)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
