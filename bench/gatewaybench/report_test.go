package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestReportFigures(t *testing.T) {
	res := func(rate float64, p50, p99 time.Duration) *wrkResult {
		return &wrkResult{ReqPerSec: rate, P50: p50, P99: p99}
	}
	r := &report{lookup: []lookupResult{{"N", 10, 20}, {"N", 10000, 30}, {"wild/N", 10, 10}, {"wild/N", 10000, 25}}}
	r.add(row{group: "proxy", path: "tandem", conns: 64, res: res(8000, 0, 6*time.Millisecond), rss: 40 << 20})
	r.add(row{group: "proxy", path: "nginx", conns: 64, res: res(10000, 0, 4*time.Millisecond)})
	r.add(row{group: "proxy", path: "caddy", conns: 64, note: "failed"})
	for _, x := range []struct {
		path  string
		conns int
		rate  float64
		p50   time.Duration
	}{{"direct", 1, 150, 6 * time.Millisecond}, {"tandem", 1, 148, 6200 * time.Microsecond}, {"nextjs-proxy-route", 1, 100, 10 * time.Millisecond},
		{"direct", 16, 300, 50 * time.Millisecond}, {"tandem", 16, 290, 51 * time.Millisecond},
		{"nginx", 1, 149, 6300 * time.Microsecond}, {"nginx", 16, 300, 50500 * time.Microsecond}} {
		r.add(row{group: "api", path: x.path, conns: x.conns, res: res(x.rate, x.p50, 2*x.p50)})
	}
	var b bytes.Buffer
	r.print(&b, &config{})
	for _, want := range []string{
		"tandem/nginx throughput: 0.80  target >= 0.70  met\n",
		"tandem/nginx p99: 1.50  target <= 1.60  met\n",
		"tandem/caddy throughput: n/a  target >= 2.50  not measured\n",
		"api via tandem/direct throughput: 0.97  target >= 0.95, at 16 connections  met\n",
		"api added p50 ms tandem: 0.20  target <= 0.30 and <= 0.40 (a tenth of nextjs-proxy-route's), at 1 connection  met\n",
		"api added p50 ms nextjs-proxy-route: 4.00  target none",
		"api via tandem/nginx throughput: 0.97  target >= 1.00, at 16 connections  MISSED\n",
		"api added p50 ms tandem-nginx: -0.10  target <= 0, at 1 connection  met\n",
		"lookup 10000/10: 2.50  target <= 2.00  MISSED\n", // the worse family counts
		"tandem RSS MiB with 10000 sites: 40.00  target <= 64  met\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
