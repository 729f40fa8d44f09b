package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one wrk measurement, or a note saying why there is none.
type row struct {
	group, path string // "proxy" or "api"; "direct", "tandem", ...
	conns       int
	res         *wrkResult
	rss         int64 // bytes, 0 if not measured
	note        string
}

type report struct {
	rows       []row
	lookup     []lookupResult
	lookupNote string
	loadBefore string // the machine's 1-minute load average when we started
}

func (r *report) add(x row) { r.rows = append(r.rows, x) }

func (r *report) find(group, path string, conns int) *wrkResult {
	for _, x := range r.rows {
		if x.group == group && x.path == path && x.conns == conns {
			return x.res
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// print writes the table of measurements, the lookup benchmark, and the
// figures the targets are about, each with its target.
func (r *report) print(w io.Writer, c *config) {
	fmt.Fprintf(w, "\ngateway benchmark, %s, %d cores, load average %s before and %s after; wrk runs of %v after %v of warm-up\n\n",
		time.Now().Format("2006-01-02"), runtime.NumCPU(), r.loadBefore, loadAverage(), c.duration, c.warmup)
	r.printTable(w)
	lookupRatio := r.printLookup(w)
	fmt.Fprintln(w)
	r.printFigures(w, lookupRatio)
}

func (r *report) printTable(w io.Writer) {
	const rowFmt = "%-6s %-19s %5v %8s %9s %9s %8s %8s %8s  %s\n"
	fmt.Fprintf(w, rowFmt, "part", "path", "conns", "req/s", "p50 ms", "p99 ms", "non-2xx", "sockerr", "RSS MiB", "note")
	for _, x := range r.rows {
		if x.res == nil {
			fmt.Fprintf(w, rowFmt, x.group, x.path, x.conns, "-", "-", "-", "-", "-", "-", x.note)
			continue
		}
		rss := "-"
		if x.rss > 0 {
			rss = fmt.Sprintf("%.1f", float64(x.rss)/(1<<20))
		}
		note := x.note
		if d := r.find(x.group, "direct", x.conns); x.group == "api" && x.path != "direct" && d != nil {
			note = fmt.Sprintf("adds %.2f ms p50, %.2fx direct's req/s", ms(x.res.P50-d.P50), x.res.ReqPerSec/d.ReqPerSec)
		}
		if x.group == "api" && x.res.Opens >= 0 && x.res.Requests > 0 {
			note += fmt.Sprintf("; %.2f new connections/request in the stack", float64(x.res.Opens)/float64(x.res.Requests))
		}
		if x.group == "api" && len(x.res.CPU) == 2 && x.res.CPU[0] >= 0 && x.res.CPU[1] >= 0 {
			note += fmt.Sprintf("; CPU per request: tandem up %.0f µs, nginx %.0f µs", us(x.res.CPU[0]), us(x.res.CPU[1]))
		}
		fmt.Fprintf(w, rowFmt, x.group, x.path, x.conns, fmt.Sprintf("%.0f", x.res.ReqPerSec),
			fmt.Sprintf("%.3f", ms(x.res.P50)), fmt.Sprintf("%.3f", ms(x.res.P99)),
			fmt.Sprint(x.res.Non2xx), fmt.Sprint(x.res.SockErrs), rss, note)
	}
}

// printLookup prints the lookup benchmark and returns the ratio that
// counts: the worst of 10,000 sites over 10 among its sub-benchmark families.
func (r *report) printLookup(w io.Writer) float64 {
	if len(r.lookup) == 0 {
		if r.lookupNote != "" {
			fmt.Fprintf(w, "\nlookup: %s\n", r.lookupNote)
		}
		return math.NaN()
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tsites\tns/op\t")
	at := map[string]map[int]float64{}
	for _, l := range r.lookup {
		fmt.Fprintf(tw, "BenchmarkLookup/%s\t%d\t%.1f\t\n", l.name, l.sites, l.nsOp)
		if at[l.name] == nil {
			at[l.name] = map[int]float64{}
		}
		at[l.name][l.sites] = l.nsOp
	}
	tw.Flush()
	worst := math.NaN()
	for _, m := range at {
		if v := m[10000] / m[10]; m[10] > 0 && m[10000] > 0 && (math.IsNaN(worst) || v > worst) {
			worst = v
		}
	}
	return worst
}

func (r *report) printFigures(w io.Writer, lookupRatio float64) {
	ratio := func(a, b *wrkResult, f func(*wrkResult) float64) float64 {
		if a == nil || b == nil {
			return math.NaN()
		}
		return f(a) / f(b)
	}
	rate := func(x *wrkResult) float64 { return x.ReqPerSec }
	p99 := func(x *wrkResult) float64 { return float64(x.P99) }
	added := func(path string) float64 {
		a, d := r.find("api", path, 1), r.find("api", "direct", 1)
		if a == nil || d == nil {
			return math.NaN()
		}
		return ms(a.P50 - d.P50)
	}
	tandem, nginx, caddy := r.find("proxy", "tandem", 64), r.find("proxy", "nginx", 64), r.find("proxy", "caddy", 64)
	addT, addN := added("tandem"), added("nextjs-proxy-route")
	rss := math.NaN()
	for _, x := range r.rows {
		if x.group == "proxy" && x.path == "tandem" && x.rss > 0 {
			rss = float64(x.rss) / (1 << 20)
		}
	}
	line(w, "tandem/nginx throughput", ratio(tandem, nginx, rate), ">= 0.70", func(v float64) bool { return v >= 0.7 })
	line(w, "tandem/nginx p99", ratio(tandem, nginx, p99), "<= 1.60", func(v float64) bool { return v <= 1.6 })
	line(w, "tandem/caddy throughput", ratio(tandem, caddy, rate), ">= 2.50", func(v float64) bool { return v >= 2.5 })
	line(w, "api via tandem/direct throughput", ratio(r.find("api", "tandem", 16), r.find("api", "direct", 16), rate),
		">= 0.95, at 16 connections", func(v float64) bool { return v >= 0.95 })
	tenth := "a tenth of nextjs-proxy-route's"
	if !math.IsNaN(addN) {
		tenth = fmt.Sprintf("%.2f (a tenth of nextjs-proxy-route's)", addN/10)
	}
	line(w, "api added p50 ms tandem", addT, "<= 0.30 and <= "+tenth+", at 1 connection",
		func(v float64) bool { return !math.IsNaN(addN) && v <= 0.3 && v <= addN/10 })
	line(w, "api added p50 ms nextjs-proxy-route", addN, "none (the reference of the line above)", nil)
	// Against nginx in front of the same Django: what any proxy pays there.
	line(w, "api via tandem/nginx throughput", ratio(r.find("api", "tandem", 16), r.find("api", "nginx", 16), rate),
		">= 1.00, at 16 connections", func(v float64) bool { return v >= 1 })
	line(w, "api added p50 ms tandem-nginx", added("tandem")-added("nginx"), "<= 0, at 1 connection",
		func(v float64) bool { return v <= 0 })
	// What each proxy's own process spends on a request: tandem up's CPU on
	// its path less what it spends on the direct path (Django's log lines,
	// which it copies on every path), nginx's on its path.
	cpu := func(path string, i, conns int) float64 {
		a, d := r.find("api", path, conns), r.find("api", "direct", conns)
		if a == nil || d == nil || len(a.CPU) <= i || len(d.CPU) <= i || a.CPU[i] < 0 || d.CPU[i] < 0 {
			return math.NaN()
		}
		return us(a.CPU[i] - d.CPU[i])
	}
	for _, conns := range []int{1, 16} {
		at := fmt.Sprintf("at %d connection", conns)
		if conns > 1 {
			at += "s"
		}
		t, n := cpu("tandem", 0, conns), cpu("nginx", 1, conns)
		line(w, "api proxy CPU µs/request tandem", t, "none ("+at+")", nil)
		line(w, "api proxy CPU µs/request nginx", n, "none ("+at+")", nil)
	}
	line(w, "lookup 10000/10", lookupRatio, "<= 2.00", func(v float64) bool { return v <= 2 })
	line(w, "tandem RSS MiB with 10000 sites", rss, "<= 64", func(v float64) bool { return v <= 64 })
}

// line prints one final figure with its target and whether it was met.
func line(w io.Writer, name string, v float64, target string, ok func(float64) bool) {
	val, verdict := fmt.Sprintf("%.2f", v), ""
	switch {
	case math.IsNaN(v):
		val, verdict = "n/a", "  not measured"
	case ok == nil:
	case ok(v):
		verdict = "  met"
	default:
		verdict = "  MISSED"
	}
	fmt.Fprintf(w, "%s: %s  target %s%s\n", name, val, target, verdict)
}

// loadAverage is the 1-minute load average: the load generator shares the
// cores with the proxies, and anything else running skews the figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
