// Command gatewaybench is make bench-gateway: tandem's gateway against nginx
// and Caddy in front of one tiny upstream (part "proxies"), the seed
// article's Next.js proxy route against tandem on the example stack (part
// "stack"), and the gateway's route lookup benchmark (part "lookup"). It
// starts every server it measures, each in a process group of its own, and
// stops them all on the way out, on errors and on Ctrl-C too.
//
// Run it from the repository as root (the stack part makes network
// namespaces and enters them), after go build -o bin/tandem ./cmd/tandem.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type config struct {
	duration, warmup time.Duration
	parts            map[string]bool
	keep             bool
	tandem           string // the tandem binary
	benchtime        string // for the lookup benchmark
	query            string // for Django's /search/
	rounds           int    // of the stack part
	cpuprofile       string // tandem up's CPU profile, written when it stops
	tmp              string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx)
	stop()
	os.Exit(code)
}

func run(ctx context.Context) int {
	c := &config{}
	var parts string
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured wrk run")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unrecorded wrk run before each measurement (0: none)")
	flag.StringVar(&parts, "parts", "proxies,stack,lookup", "which parts to run, comma-separated")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary directory (configs, logs) for debugging")
	flag.StringVar(&c.tandem, "tandem", "bin/tandem", "the tandem binary to measure")
	flag.StringVar(&c.benchtime, "benchtime", "1s", "go test -benchtime for the lookup benchmark")
	flag.StringVar(&c.query, "query", "gateway", "search term for Django's /search/?q=")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of the example stack's measurements, taken in turn; medians are reported")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write tandem up's CPU profile to this file (go tool pprof bin/tandem FILE)")
	flag.Parse()
	c.parts = map[string]bool{}
	for _, p := range strings.Split(parts, ",") {
		if p = strings.TrimSpace(p); p != "proxies" && p != "stack" && p != "lookup" {
			fmt.Fprintf(os.Stderr, "gatewaybench: unknown part %q (proxies, stack, lookup)\n", p)
			return 2
		}
		c.parts[p] = true
	}
	if err := c.prepare(); err != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench:", err)
		return 1
	}
	defer func() {
		stopAll() // whatever a part left running, on any way out
		if c.keep {
			fmt.Fprintln(os.Stderr, "gatewaybench: kept", c.tmp)
		} else {
			os.RemoveAll(c.tmp)
		}
	}()

	rep := &report{loadBefore: loadAverage()}
	var failed []error
	for _, part := range []struct {
		name string
		run  func(context.Context, *config, *report) error
	}{{"proxies", runProxies}, {"stack", runStack}, {"lookup", runLookup}} {
		if !c.parts[part.name] || ctx.Err() != nil {
			continue
		}
		logf("part %s", part.name)
		if err := part.run(ctx, c, rep); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", part.name, err))
		}
	}
	rep.print(os.Stdout, c)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "gatewaybench: interrupted")
		return 130
	}
	if len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "gatewaybench: %v\n", errors.Join(failed...))
		return 1
	}
	return 0
}

// prepare moves to the repository root, checks the tools, makes the temp dir.
func (c *config) prepare() error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/tandem-dev/tandem\n") {
			break
		}
		if filepath.Dir(dir) == dir {
			return errors.New("run me inside the tandem repository")
		}
		dir = filepath.Dir(dir)
	}
	if err := os.Chdir(dir); err != nil {
		return err
	}
	if c.tandem, err = filepath.Abs(c.tandem); err != nil {
		return err
	}
	need := map[string][]string{"proxies": {"wrk", "nginx", "caddy", "curl"}, "stack": {"wrk", "nsenter", "curl", "nginx"}, "lookup": {"go"}}
	for part, tools := range need {
		for _, t := range tools {
			if _, err := exec.LookPath(t); c.parts[part] && err != nil {
				return fmt.Errorf("part %s needs %s: %w", part, t, err)
			}
		}
	}
	if c.parts["stack"] && os.Geteuid() != 0 {
		return errors.New("part stack needs root (network namespaces); run as root or leave it out with -parts")
	}
	if c.tmp, err = os.MkdirTemp("", "gatewaybench-"); err != nil {
		return err
	}
	// The stack's PostgreSQL runs as the postgres account and must reach
	// its data directory inside.
	return os.Chmod(c.tmp, 0o755)
}

// measure checks that l answers 2xx, warms the target up, then measures it.
func (c *config) measure(ctx context.Context, name string, l load) (*wrkResult, error) {
	status, body, err := probe(ctx, l)
	if err != nil {
		return nil, err
	}
	if status < 200 || status > 299 {
		return nil, fmt.Errorf("%s: %s answered %d, not 2xx: %.300s", name, l.url, status, body)
	}
	if c.warmup > 0 {
		logf("%s, -c%d: warming up for %v", name, l.conns, c.warmup)
		if _, err := runWrk(ctx, l, c.warmup); err != nil {
			return nil, err
		}
	}
	logf("%s, -c%d: measuring for %v", name, l.conns, c.duration)
	r, err := runWrk(ctx, l, c.duration)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// probe sends one GET as wrk would (same namespace, same Host header); wrk
// alone would not say that every answer was a redirect.
func probe(ctx context.Context, l load) (status int, body string, err error) {
	var args []string
	if l.netns != "" {
		args = append(args, "nsenter", "--net="+l.netns)
	}
	args = append(args, "curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}")
	if l.host != "" {
		args = append(args, "-H", "Host: "+l.host)
	}
	args = append(args, l.url)
	out, err := command(ctx, args...).Output()
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndexByte(s, '\n')
	_, err = fmt.Sscan(s[i+1:], &status)
	return status, s[:max(i, 0)], err
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gatewaybench: "+format+"\n", args...)
}
