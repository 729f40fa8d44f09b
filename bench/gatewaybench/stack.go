package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runStack is part 2: Django's search endpoint called directly, through
// tandem's gateway, through nginx, and through the seed article's Next.js
// proxy route, on the example stack run by tandem up.
func runStack(ctx context.Context, c *config, rep *report) error {
	// A stable place, so the frontend's build there is reused next time.
	overlay := filepath.Join("bench", ".work", "django-nextjs")
	changed, err := syncOverlay(filepath.Join("examples", "django-nextjs"), overlay)
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	if len(changed) > 0 {
		logf("overlay %s: %d files updated (the frontend builds again if one of them is in it)", overlay, len(changed))
	}
	listen, err := listenAddr()
	if err != nil {
		return err
	}
	data := filepath.Join(c.tmp, "stack")
	var env []string
	if c.cpuprofile != "" {
		// For tandem up alone: tandem ps would write its own over it.
		prof, err := filepath.Abs(c.cpuprofile)
		if err != nil {
			return err
		}
		env = append(env, "TANDEM_CPUPROFILE="+prof)
	}
	p, err := start("tandem up", ".", env, filepath.Join(c.tmp, "tandem-up.log"), c.tandem, "up",
		"-f", filepath.Join(overlay, "docker-compose.yml"), "--listen", listen, "--data", data)
	if err != nil {
		return err
	}
	defer p.stop(60 * time.Second)
	logf("waiting for tandem up (a first run builds the frontend: a minute or two)")
	if err := p.waitOutput(ctx, "is up at", 15*time.Minute); err != nil {
		return err
	}
	api, err := servicePid(ctx, c.tandem, data, "api")
	if err != nil {
		return err
	}
	netns, err := netnsOf(api)
	if err != nil {
		return fmt.Errorf("api (pid %d): %w", api, err)
	}
	ngx, ngxListen, err := startStackNginx(ctx, c, netns)
	if err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	defer ngx.stop(10 * time.Second)
	// The gateway's Host is the one tandem up gave the stack (PREVIEW_HOST),
	// which Django's ALLOWED_HOSTS admits; the Next.js route forwards it.
	// Connections opened inside the stack's namespace, per request: by
	// wrk to gunicorn (direct), by tandem's dials, by nginx, by Next.js.
	opens := fmt.Sprintf("/proc/%d/net/snmp", api)
	_, port, _ := strings.Cut(listen, ":")
	host := "localhost:" + port
	q := "/search/?q=" + c.query
	paths := []struct {
		name string
		l    load
	}{
		{"direct", load{url: "http://127.0.0.1:8000" + q, host: "api:8000", netns: netns}},
		{"tandem", load{url: "http://" + listen + "/api" + q, host: host}},
		{"nginx", load{url: "http://" + ngxListen + "/api" + q, host: host, netns: netns}},
		{"nextjs-proxy-route", load{url: "http://127.0.0.1:3000/api" + q, host: host, netns: netns}},
	}
	// Django's own speed drifts from run to run more than a proxy's cost:
	// measure the paths in turn, several rounds, and keep each one's median.
	for _, conc := range [][2]int{{1, 1}, {2, 16}} {
		runs := make([][]wrkResult, len(paths))
		for round := 0; round < c.rounds; round++ {
			for i, pa := range paths {
				l := pa.l
				l.threads, l.conns, l.opens = conc[0], conc[1], opens
				l.cpu = []cpuOf{{"tandem up", p.cmd.Process.Pid, false}, {"nginx", ngx.cmd.Process.Pid, true}}
				res, err := c.measure(ctx, fmt.Sprintf("api %s (round %d of %d)", pa.name, round+1, c.rounds), l)
				if err != nil {
					return err
				}
				runs[i] = append(runs[i], *res)
			}
		}
		for i, pa := range paths {
			m := median(runs[i])
			rep.add(row{group: "api", path: pa.name, conns: conc[1], res: &m, note: fmt.Sprintf("median of %d", c.rounds)})
		}
	}
	return nil
}

// median takes the median of each figure of rs on its own.
func median(rs []wrkResult) wrkResult {
	pick := func(f func(wrkResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	m := rs[0]
	m.ReqPerSec = pick(func(r wrkResult) float64 { return r.ReqPerSec })
	m.P50 = time.Duration(pick(func(r wrkResult) float64 { return float64(r.P50) }))
	m.P99 = time.Duration(pick(func(r wrkResult) float64 { return float64(r.P99) }))
	m.CPU = make([]time.Duration, len(rs[0].CPU))
	for i := range m.CPU {
		m.CPU[i] = time.Duration(pick(func(r wrkResult) float64 {
			if i >= len(r.CPU) {
				return -1
			}
			return float64(r.CPU[i])
		}))
	}
	for _, r := range rs[1:] {
		m.Requests += r.Requests
		m.Non2xx += r.Non2xx
		m.SockErrs += r.SockErrs
		if m.Opens >= 0 && r.Opens >= 0 {
			m.Opens += r.Opens
		} else {
			m.Opens = -1
		}
	}
	return m
}

// waitOutput waits until the process has printed s, failing if it exits.
func (p *proc) waitOutput(ctx context.Context, s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), s) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before printing %q:\n%s", p.name, p.err, s, tail(p.log, 30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not print %q in %v:\n%s", p.name, s, timeout, tail(p.log, 30))
		}
	}
}

// servicePid reads a service's pid from tandem ps.
func servicePid(ctx context.Context, tandem, data, service string) (int, error) {
	out, err := command(ctx, tandem, "ps", "--data", data).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("tandem ps: %w\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == service {
			if pid, err := strconv.Atoi(f[2]); err == nil {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("tandem ps shows no pid for %s:\n%s", service, out)
}

// netnsOf returns the network namespace of the stack that pid belongs to:
// that of pid or of its first descendant not in our own namespace (the
// service's top process may be a helper that has not entered it).
func netnsOf(pid int) (string, error) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "", err
	}
	children := map[int][]int{}
	for _, st := range procStats() {
		children[st.ppid] = append(children[st.ppid], st.pid)
	}
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		ns := fmt.Sprintf("/proc/%d/ns/net", p)
		if id, err := os.Readlink(ns); err == nil && id != self {
			return ns, nil
		}
		queue = append(queue, children[p]...)
	}
	return "", errors.New("neither it nor a descendant is in a network namespace of its own")
}
