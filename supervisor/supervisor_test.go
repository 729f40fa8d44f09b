package supervisor

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/process"
)

func TestMain(m *testing.M) {
	process.Init()
	os.Exit(m.Run())
}

// journal is a file the test's services append events to.
type journal string

func (j journal) lines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(string(j))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// sh is a service running a shell script that may write to the journal as
// $J: it runs in the journal's directory, the stack's work tree.
func sh(name, script string, j journal) *tandem.Service {
	dir := "/"
	if j != "" {
		dir = filepath.Dir(string(j))
	}
	return &tandem.Service{
		Name: name, Context: dir, StopGrace: 5 * time.Second,
		Command:     []string{"sh", "-c", script},
		Environment: map[string]string{"J": string(j)},
	}
}

// daemon runs until SIGTERM, recording its start and stop.
func daemon(name string, j journal) *tandem.Service {
	return sh(name, `echo start-`+name+` >> "$J"; trap 'echo stop-`+name+` >> "$J"; exit 0' TERM; while :; do sleep 0.1; done`, j)
}

func healthy(svc *tandem.Service, test string) *tandem.Service {
	svc.Healthcheck = &tandem.Healthcheck{Test: []string{"CMD-SHELL", test}, Interval: 200 * time.Millisecond, Timeout: 2 * time.Second, Retries: 5}
	return svc
}

func dep(service string, c tandem.Condition) tandem.Dependency {
	return tandem.Dependency{Service: service, Condition: c, Required: true}
}

type capture struct {
	mu    sync.Mutex
	lines []Line
}

func (c *capture) add(l Line) { c.mu.Lock(); c.lines = append(c.lines, l); c.mu.Unlock() }

func (c *capture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, l := range c.lines {
		b.WriteString(l.Service + " | " + l.Text + "\n")
	}
	return b.String()
}

func run(t *testing.T, services ...*tandem.Service) (*Supervisor, *capture, error) {
	t.Helper()
	slices.SortFunc(services, func(a, b *tandem.Service) int { return strings.Compare(a.Name, b.Name) })
	out := &capture{}
	dir := ""
	for _, svc := range services {
		if svc.Context != "/" {
			dir = svc.Context
		}
	}
	s := New(Options{
		Stack:   &tandem.Stack{Name: "test", Services: services, Dir: dir},
		Runtime: process.New(), Name: "t", DataDir: t.TempDir(), Output: out.add,
	})
	t.Cleanup(func() { s.Down(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s, out, s.Up(ctx)
}

func TestConditionsOrderTheStart(t *testing.T) {
	j := journal(filepath.Join(t.TempDir(), "journal"))
	ready := filepath.Join(filepath.Dir(string(j)), "db-ready")
	// db becomes healthy only after a while; migrate must wait for that,
	// and api for migrate to complete.
	db := healthy(sh("db", `echo start-db >> "$J"; sleep 0.6; touch `+ready+`; echo healthy-db >> "$J"; trap 'exit 0' TERM; while :; do sleep 0.1; done`, j), "test -e "+ready)
	migrate := sh("migrate", `echo migrate >> "$J"; sleep 0.3; echo migrated >> "$J"`, j)
	migrate.DependsOn = []tandem.Dependency{dep("db", tandem.ServiceHealthy)}
	api := daemon("api", j)
	api.DependsOn = []tandem.Dependency{dep("db", tandem.ServiceHealthy), dep("migrate", tandem.ServiceCompletedSuccessfully)}
	web := daemon("web", j)
	web.DependsOn = []tandem.Dependency{dep("api", tandem.ServiceStarted)}

	s, out, err := run(t, db, migrate, api, web)
	if err != nil {
		t.Fatalf("Up: %v\n%s", err, out.text())
	}
	// Up returns once api and web run; their first line may come a moment later.
	var got []string
	for deadline := time.Now().Add(5 * time.Second); len(got) < 6 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = j.lines(t)
	}
	want := []string{"start-db", "healthy-db", "migrate", "migrated", "start-api", "start-web"}
	// web may write before api's own echo lands; everything else is ordered.
	if len(got) != len(want) || !slices.Equal(got[:4], want[:4]) {
		t.Fatalf("journal %v, want %v", got, want)
	}
	states := map[string]State{}
	for _, st := range s.Status() {
		states[st.Service] = st.State
	}
	if states["db"] != Healthy || states["migrate"] != Exited || states["api"] != Running || states["web"] != Running {
		t.Errorf("states %v", states)
	}
	if err := s.Ready("api"); err != nil {
		t.Errorf("api not ready: %v", err)
	}
	if err := s.Ready("migrate"); err == nil || !strings.Contains(err.Error(), "migrate exited with code 0") {
		t.Errorf("Ready(migrate) = %v", err)
	}

	// Down stops dependents first.
	if err := s.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = j.lines(t)
	iWeb, iAPI := slices.Index(got, "stop-web"), slices.Index(got, "stop-api")
	if iWeb < 0 || iAPI < 0 || iWeb > iAPI {
		t.Errorf("stop order %v: want web stopped before api", got)
	}
}

func TestFailedDependencyFailsDependents(t *testing.T) {
	j := journal(filepath.Join(t.TempDir(), "journal"))
	migrate := sh("migrate", `echo "applying 0002"; echo "django.db.utils.ProgrammingError: relation does not exist" >&2; exit 3`, j)
	api := daemon("api", j)
	api.DependsOn = []tandem.Dependency{dep("migrate", tandem.ServiceCompletedSuccessfully)}
	s, out, err := run(t, migrate, api)
	if err == nil || !strings.Contains(err.Error(), "service api: dependency migrate did not complete successfully: exit code 3") {
		t.Fatalf("Up error = %v", err)
	}
	if slices.Contains(j.lines(t), "start-api") {
		t.Error("api started although its dependency failed")
	}
	text := out.text()
	for _, want := range []string{"migrate | applying 0002", "migrate | django.db.utils.ProgrammingError", "migrate | tandem: migrate exited with code 3"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if st := s.Status()[0]; st.Service != "api" || st.State != Failed {
		t.Errorf("api status %+v", st)
	}
	// Log files are written in batches; Down writes what is held.
	s.Down(context.Background())
	logs, _ := os.ReadFile(filepath.Join(s.opts.DataDir, "logs", "migrate.log"))
	if !strings.Contains(string(logs), "ProgrammingError") {
		t.Errorf("log file: %q", logs)
	}
}

func TestUnhealthyDependency(t *testing.T) {
	j := journal(filepath.Join(t.TempDir(), "journal"))
	db := daemon("db", j)
	db.Healthcheck = &tandem.Healthcheck{Test: []string{"CMD", "false"}, Interval: 100 * time.Millisecond, Timeout: time.Second, Retries: 3}
	api := daemon("api", j)
	api.DependsOn = []tandem.Dependency{dep("db", tandem.ServiceHealthy)}
	s, _, err := run(t, db, api)
	if err == nil || !strings.Contains(err.Error(), "dependency db is unhealthy") {
		t.Fatalf("Up error = %v", err)
	}
	if err := s.Ready("db"); err == nil || err.Error() != "db is unhealthy" {
		t.Errorf("Ready(db) = %v", err)
	}
}

func TestRestartPolicyAndStopStart(t *testing.T) {
	j := journal(filepath.Join(t.TempDir(), "journal"))
	flaky := sh("worker", `echo run >> "$J"; n=$(grep -c run "$J"); [ "$n" -ge 3 ] && exec sleep 1000; exit 1`, j)
	flaky.Restart = tandem.RestartOnFailure
	s, out, err := run(t, flaky)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Status()[0].Restarts < 2 || s.Status()[0].State != Running {
		if time.Now().After(deadline) {
			t.Fatalf("not restarted to running: %+v\n%s", s.Status()[0], out.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A stop on request is not a failure, and no policy brings it back.
	if err := s.Stop(context.Background(), "worker"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.State != Stopped {
		t.Fatalf("after Stop: %+v", st)
	}
	if err := s.Ready("worker"); err == nil || err.Error() != "worker is stopped" {
		t.Errorf("Ready = %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if st := s.Status()[0]; st.State != Stopped {
		t.Fatalf("restarted after a stop: %+v", st)
	}
	if err := s.Start(context.Background(), "worker"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready("worker"); err != nil {
		t.Errorf("after Start: %v", err)
	}
	if err := s.Start(context.Background(), "nope"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("Start(nope) = %v", err)
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	j := journal(filepath.Join(t.TempDir(), "journal"))
	stubborn := sh("stubborn", `trap '' TERM; echo up; while :; do sleep 0.1; done`, j)
	stubborn.StopGrace = 300 * time.Millisecond
	s, out, err := run(t, stubborn)
	if err != nil {
		t.Fatal(err)
	}
	// Its trap must be set before the signal comes, as with any program.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.text(), "stubborn | up"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never came up")
		}
	}
	start := time.Now()
	s.Stop(context.Background(), "stubborn")
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("stop took %s", d)
	}
	if !strings.Contains(out.text(), "did not stop within 300ms: killing it") {
		t.Errorf("output:\n%s", out.text())
	}
}

func TestLineWriter(t *testing.T) {
	var got []string
	w := &lineWriter{emit: func(s string) { got = append(got, s) }}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\r\nthree"))
	w.Flush()
	if !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("%q", got)
	}
	r := newRing(3)
	for _, s := range []string{"a", "b", "c", "d"} {
		r.add(s)
	}
	if !slices.Equal(r.tail(10), []string{"b", "c", "d"}) || !slices.Equal(r.tail(2), []string{"c", "d"}) {
		t.Errorf("ring %q", r.tail(10))
	}
}

func TestRoutedServiceIsUpWhenItsPortAnswers(t *testing.T) {
	// It listens only after a while, as next start does.
	web := sh("web", `sleep 0.8; exec /usr/bin/python3 -m http.server 3000 --bind 0.0.0.0`, "")
	out := &capture{}
	s := New(Options{
		Stack:   &tandem.Stack{Name: "test", Services: []*tandem.Service{web}},
		Runtime: process.New(), Name: "t", DataDir: t.TempDir(), Output: out.add,
		Routed: map[string][]int{"web": {3000}},
	})
	t.Cleanup(func() { s.Down(context.Background()) })
	go func() {
		time.Sleep(300 * time.Millisecond)
		if err := s.Ready("web"); err == nil || err.Error() != "web is starting" {
			t.Errorf("before it listens: Ready = %v", err)
		}
	}()
	began := time.Now()
	if err := s.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	if time.Since(began) < 800*time.Millisecond {
		t.Errorf("Up returned after %s, before the port answered", time.Since(began))
	}
	c, err := s.DialContext(context.Background(), "tcp", "web:3000")
	if err != nil {
		t.Fatalf("Up returned but web:3000 refuses: %v", err)
	}
	c.Close()
	if err := s.Ready("web"); err != nil {
		t.Errorf("after Up: %v", err)
	}
}

// exitRecorder is a slog handler that notes, when an exit is reported, the
// state its service has at that moment.
type exitRecorder struct {
	mu     sync.Mutex
	s      *Supervisor
	states []State
	tails  []string
}

func (h *exitRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *exitRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *exitRecorder) WithGroup(string) slog.Handler            { return h }
func (h *exitRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "service exited" {
		return nil
	}
	var tail string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "tail" {
			tail = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, st := range h.s.Status() {
		if st.Service == "migrate" {
			h.states = append(h.states, st.State)
		}
	}
	h.tails = append(h.tails, tail)
	return nil
}

// A failed dependency ends the start at once, and the report of its exit,
// with its last lines, must not be lost to that: it is made before anyone
// waiting on the service can learn that it exited.
func TestExitIsReportedBeforeDependentsLearnOfIt(t *testing.T) {
	migrate := sh("migrate", `echo "applying 0001"; echo "relation does not exist" >&2; exit 3`, "")
	api := sh("api", "sleep 60", "")
	api.DependsOn = []tandem.Dependency{dep("migrate", tandem.ServiceCompletedSuccessfully)}
	h := &exitRecorder{}
	s := New(Options{
		Stack:   &tandem.Stack{Name: "test", Services: []*tandem.Service{api, migrate}},
		Runtime: process.New(), Name: "t", DataDir: t.TempDir(), Logger: slog.New(h),
	})
	h.s = s
	t.Cleanup(func() { s.Down(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Up(ctx); err == nil {
		t.Fatal("Up succeeded although migrate failed")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.states) != 1 {
		t.Fatalf("%d exit reports, want 1", len(h.states))
	}
	if h.states[0] == Exited {
		t.Error("the exit was reported after it was published: a dependent could fail the start first and the report be dropped")
	}
	if !strings.Contains(h.tails[0], "applying 0001\nrelation does not exist") {
		t.Errorf("tail %q", h.tails[0])
	}
}

// A secret a service prints reaches no log file, no output and no failure
// report.
func TestMaskHidesSecretsInOutputAndLogs(t *testing.T) {
	const secret = "s3cret-value-123"
	leaky := sh("leaky", `echo "key is `+secret+`"; echo "`+secret+`" >&2; exit 3`, "")
	h := &exitRecorder{}
	var out capture
	s := New(Options{
		Stack:   &tandem.Stack{Name: "test", Services: []*tandem.Service{leaky}},
		Runtime: process.New(), Name: "t", DataDir: t.TempDir(), Output: out.add, Logger: slog.New(h),
		Mask: []string{secret, ""},
	})
	h.s = s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	// Up returns once leaky runs; wait for its exit to be reported.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		n := len(h.tails)
		h.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("leaky's exit was never reported")
		}
	}
	s.Down(context.Background())
	logs, err := os.ReadFile(filepath.Join(s.opts.DataDir, "logs", "leaky.log"))
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	tails := strings.Join(h.tails, "\n")
	h.mu.Unlock()
	for what, text := range map[string]string{"output": out.text(), "log file": string(logs), "exit report": tails} {
		if strings.Contains(text, secret) {
			t.Errorf("the %s shows the secret:\n%s", what, text)
		}
		if !strings.Contains(text, "key is [secret]") {
			t.Errorf("the %s lacks the masked line:\n%s", what, text)
		}
	}
}

// A service that has not opened its ports yet is still starting: probing its
// healthcheck every eagerProbe then only takes CPU from its start (Django's
// healthcheck is a Python process). It is probed once a second at most
// until they open.
func TestHealthcheckWaitsForThePortToOpen(t *testing.T) {
	j := journal(filepath.Join(t.TempDir(), "journal"))
	api := sh("api", `sleep 3.5; echo listening >> "$J"; exec /usr/bin/python3 -m http.server 8000 --bind 0.0.0.0`, j)
	api.Ports = []int{8000}
	api.Healthcheck = &tandem.Healthcheck{
		Test:     []string{"CMD-SHELL", `echo probe@$(date +%s.%N) >> "$J"; /usr/bin/python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8000/", timeout=2)'`},
		Interval: 5 * time.Second, Timeout: 3 * time.Second, Retries: 3,
	}
	if _, out, err := run(t, api); err != nil {
		t.Fatalf("%v\n%s", err, out.text())
	}
	lines := j.lines(t)
	opened := slices.Index(lines, "listening")
	if opened < 1 || !strings.HasPrefix(lines[len(lines)-1], "probe@") {
		t.Fatalf("journal: %v", lines)
	}
	var last float64
	for i, l := range lines[:opened] {
		at, err := strconv.ParseFloat(strings.TrimPrefix(l, "probe@"), 64)
		if err != nil {
			t.Fatalf("journal line %q: %v", l, err)
		}
		// Load only makes the gaps longer.
		if i > 0 && at-last < 0.9 {
			t.Errorf("probed again %.2fs after the last probe, the port still closed: %v", at-last, lines)
		}
		last = at
	}
}

// verdict is the healthcheck's verdict a probing runtime reports of one
// service.
type verdict struct {
	mu      sync.Mutex
	ok      bool
	changed chan struct{}
	execs   atomic.Int32 // healthchecks run by Exec all the same
}

func newVerdict() *verdict { return &verdict{changed: make(chan struct{})} }

func (v *verdict) set(ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ok = ok
	close(v.changed)
	v.changed = make(chan struct{})
}

// probingRuntime is the process runtime as a runtime that probes its
// services itself would be: Kubernetes, whose kubelet runs them as
// readiness probes.
type probingRuntime struct {
	tandem.Runtime
	v map[string]*verdict
}

func (r probingRuntime) NewSandbox(ctx context.Context, spec tandem.SandboxSpec) (tandem.Sandbox, error) {
	sb, err := r.Runtime.NewSandbox(ctx, spec)
	return probingSandbox{sb, r.v}, err
}

type probingSandbox struct {
	tandem.Sandbox
	v map[string]*verdict
}

func (s probingSandbox) Start(ctx context.Context, svc *tandem.Service, stdout, stderr io.Writer) (tandem.Process, error) {
	p, err := s.Sandbox.Start(ctx, svc, stdout, stderr)
	if err != nil {
		return nil, err
	}
	return probed{p, s.v[svc.Name]}, nil
}

func (s probingSandbox) Exec(ctx context.Context, svc *tandem.Service, argv []string, stdout, stderr io.Writer) error {
	if slices.Equal(argv, svc.Healthcheck.Argv()) {
		s.v[svc.Name].execs.Add(1)
	}
	return s.Sandbox.Exec(ctx, svc, argv, stdout, stderr)
}

type probed struct {
	tandem.Process
	v *verdict
}

func (p probed) Probed() (bool, <-chan struct{}) {
	p.v.mu.Lock()
	defer p.v.mu.Unlock()
	return p.v.ok, p.v.changed
}

func (p probed) ProbeFailure(context.Context) string { return "Readiness probe failed: not yet" }

// A runtime that probes its services itself is believed: the supervisor
// runs no healthcheck of its own, and applies Compose's rules to the
// runtime's verdicts (the runtime counted the retries of a service that
// passed; before the first pass, the start budget applies).
func TestRuntimesProbesAreFollowed(t *testing.T) {
	v := map[string]*verdict{"api": newVerdict(), "never": newVerdict()}
	j := journal(filepath.Join(t.TempDir(), "journal"))
	api := healthy(daemon("api", j), "exit 1") // were it run here, never healthy
	api.Healthcheck.Retries = 3
	never := healthy(daemon("never", j), "exit 1")
	never.Healthcheck.Retries = 1 // 200 ms of budget
	out := &capture{}
	s := New(Options{
		Stack:   &tandem.Stack{Name: "test", Services: []*tandem.Service{api, never}, Dir: filepath.Dir(string(j))},
		Runtime: probingRuntime{process.New(), v}, Name: "t", DataDir: t.TempDir(), Output: out.add,
	})
	t.Cleanup(func() { s.Down(context.Background()) })
	time.AfterFunc(500*time.Millisecond, func() { v["api"].set(true) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Up(ctx) // never is unhealthy: Up may say so
	state := func(name string) Status {
		for _, st := range s.Status() {
			if st.Service == name {
				return st
			}
		}
		return Status{}
	}
	await := func(name string, want State) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); state(name).State != want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, want %s\n%s", name, state(name).State, want, out.text())
			}
		}
	}
	await("api", Healthy)
	await("never", Unhealthy)
	if got := state("never").Health; got != "Readiness probe failed: not yet" {
		t.Errorf("never's health says %q, want the probe's failure", got)
	}
	began := time.Now()
	v["api"].set(false)
	await("api", Unhealthy) // at once: the runtime counted its retries
	if d := time.Since(began); d > time.Second {
		t.Errorf("api unhealthy %s after the runtime said so", d)
	}
	v["api"].set(true)
	await("api", Healthy)
	for name, v := range v {
		if n := v.execs.Load(); n != 0 {
			t.Errorf("the supervisor ran %s's healthcheck %d times although the runtime probes", name, n)
		}
	}
}
