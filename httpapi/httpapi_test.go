package httpapi

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
	"github.com/tandem-dev/tandem/process"
	"github.com/tandem-dev/tandem/supervisor"
)

func TestMain(m *testing.M) {
	process.Init()
	os.Exit(m.Run())
}

// serve runs the API for a real one-service instance on a unix socket.
func serve(t *testing.T) (*Client, *supervisor.Supervisor) {
	t.Helper()
	dir := t.TempDir()
	svc := &tandem.Service{Name: "worker", Context: "/", StopGrace: 2 * time.Second,
		Command: []string{"sh", "-c", `trap 'echo bye; exit 0' TERM; echo hello; while :; do sleep 0.1; done`}}
	sup := supervisor.New(supervisor.Options{Stack: &tandem.Stack{Name: "t", Services: []*tandem.Service{svc}},
		Runtime: process.New(), Name: "t", DataDir: dir})
	if err := sup.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Down(context.Background()) })
	sock := filepath.Join(dir, "tandem.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(sup)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return NewClient(sock), sup
}

func TestControlAPI(t *testing.T) {
	c, sup := serve(t)
	ctx := context.Background()
	waitHello(t, sup)
	sts, err := c.Services(ctx)
	if err != nil || len(sts) != 1 || sts[0].Service != "worker" || sts[0].State != supervisor.Running || sts[0].ID == "" {
		t.Fatalf("services: %+v %v", sts, err)
	}
	st, err := c.Act(ctx, "worker", "stop")
	if err != nil || st.State != supervisor.Stopped {
		t.Fatalf("stop: %+v %v", st, err)
	}
	st, err = c.Act(ctx, "worker", "start")
	if err != nil || st.State != supervisor.Running {
		t.Fatalf("start: %+v %v", st, err)
	}
	if _, err := c.Act(ctx, "nope", "stop"); tandem.ErrorCode(err) != tandem.ENOTFOUND || !strings.Contains(err.Error(), `no service "nope"`) {
		t.Errorf("unknown service: %v", err)
	}
	if _, err := c.Act(ctx, "worker", "explode"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("unknown action: %v", err)
	}
	// The tail holds both runs' output, tandem's notes aside.
	var out bytes.Buffer
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "hello") < 2 && time.Now().Before(deadline) {
		out.Reset()
		if err := c.Logs(ctx, "worker", 50, false, &out); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := out.String(); strings.Count(got, "hello") != 2 || !strings.Contains(got, "bye") {
		t.Errorf("logs:\n%s", got)
	}
}

func TestFollowLogs(t *testing.T) {
	c, sup := serve(t)
	waitHello(t, sup)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr := &testutil.Buffer{}
	done := make(chan error, 1)
	go func() { done <- c.Logs(ctx, "worker", 1, true, pr) }()
	time.Sleep(200 * time.Millisecond)
	sup.Restart(context.Background(), "worker")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(pr.String(), "bye") || strings.Count(pr.String(), "hello") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("followed:\n%s", pr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follow ended with %v", err)
	}
}

// waitHello waits until the worker has set its trap and said hello: a stop
// signal that comes before its trap is set ends it at once, as any program.
func waitHello(t *testing.T, sup *supervisor.Supervisor) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if lines, _ := sup.Logs("worker", 10); len(lines) > 0 && lines[0] == "hello" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never said hello")
		}
	}
}

func TestNotRunning(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "tandem.sock"))
	_, err := c.Services(context.Background())
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE || !strings.Contains(err.Error(), "no tandem up is running") {
		t.Errorf("got %v", err)
	}
}
