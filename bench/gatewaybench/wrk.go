package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what we keep of one wrk run.
type wrkResult struct {
	Requests  int64
	ReqPerSec float64
	P50, P99  time.Duration
	Non2xx    int64 // wrk counts statuses >= 400 ("Non-2xx or 3xx responses")
	SockErrs  int64 // connect + read + write + timeout
	Opens     int64 // TCP connections opened in the counted namespace meanwhile, -1: not counted
	// CPU is the CPU time per request of each of the load's cpu servers
	// meanwhile, -1 where not counted.
	CPU []time.Duration
}

// parseWrk reads wrk 4.1's report as printed with --latency.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var seen50, seen99, seenRate bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "50%":
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			r.P50, seen50 = d, true
		case len(f) == 2 && f[0] == "99%":
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			r.P99, seen99 = d, true
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: Requests/sec %q: %w", f[1], err)
			}
			r.ReqPerSec, seenRate = v, true
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.Requests, _ = strconv.ParseInt(f[0], 10, 64)
		case len(f) == 5 && f[0] == "Non-2xx":
			r.Non2xx, _ = strconv.ParseInt(f[4], 10, 64)
		case len(f) == 10 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 1, write 0, timeout 0
			for i := 3; i < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i], ","), 10, 64)
				r.SockErrs += n
			}
		}
	}
	if !seen50 || !seen99 || !seenRate {
		return r, fmt.Errorf("wrk: no Requests/sec or latency distribution in its output (was --latency given?)")
	}
	return r, nil
}

// parseWrkDuration reads wrk's latency format: 231.00us, 2.38ms, 1.02s, 1.5m.
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("wrk: latency %q: %w", s, err)
			}
			return time.Duration(math.Round(v * float64(u.unit))), nil
		}
	}
	return 0, fmt.Errorf("wrk: latency %q has no unit", s)
}

// load says how to run wrk: where and how hard.
type load struct {
	threads, conns int
	url, host      string // host: a Host header other than the URL's
	netns          string // /proc/PID/ns/net to run wrk in, or "" for ours
	opens          string // /proc/PID/net/snmp whose TCP ActiveOpens to count, or ""
	cpu            []cpuOf
}

func (l load) args(d time.Duration) []string {
	var args []string
	if l.netns != "" {
		args = append(args, "nsenter", "--net="+l.netns)
	}
	args = append(args, "wrk", fmt.Sprintf("-t%d", l.threads), fmt.Sprintf("-c%d", l.conns),
		fmt.Sprintf("-d%ds", int(d.Round(time.Second)/time.Second)), "--latency")
	if l.host != "" {
		args = append(args, "-H", "Host: "+l.host)
	}
	return append(args, l.url)
}

// runWrk runs wrk for d.
func runWrk(ctx context.Context, l load, d time.Duration) (wrkResult, error) {
	args := l.args(d)
	before, openErr := activeOpens(l.opens)
	cpu0 := cpuTimes(l.cpu)
	out, err := command(ctx, args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
	}
	cpu1 := cpuTimes(l.cpu)
	after, err2 := activeOpens(l.opens)
	r, err := parseWrk(string(out))
	if err != nil {
		return r, fmt.Errorf("%w\n%s", err, out)
	}
	r.Opens = -1
	if l.opens != "" && openErr == nil && err2 == nil {
		r.Opens = after - before
	}
	for i := range l.cpu {
		per := time.Duration(-1)
		if cpu0[i] >= 0 && cpu1[i] >= 0 && r.Requests > 0 {
			per = (cpu1[i] - cpu0[i]) / time.Duration(r.Requests)
		}
		r.CPU = append(r.CPU, per)
	}
	return r, nil
}

// activeOpens reads TCP's ActiveOpens (connect calls that began a
// connection) from a /proc/PID/net/snmp: the count of the network
// namespace PID is in. 0 for "".
func activeOpens(snmp string) (int64, error) {
	if snmp == "" {
		return 0, nil
	}
	b, err := os.ReadFile(snmp)
	if err != nil {
		return 0, err
	}
	return parseActiveOpens(string(b))
}

func parseActiveOpens(snmp string) (int64, error) {
	var names []string
	for _, line := range strings.Split(snmp, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i := 1; i < len(f) && i < len(names); i++ {
			if names[i] == "ActiveOpens" {
				return strconv.ParseInt(f[i], 10, 64)
			}
		}
	}
	return 0, errors.New("snmp: no Tcp ActiveOpens")
}
