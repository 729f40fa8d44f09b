package main

import (
	"os"
	"reflect"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		file string
		want wrkResult
	}{
		{"testdata/wrk-latency.txt", wrkResult{Requests: 74185, ReqPerSec: 24266.64,
			P50: 2380 * time.Microsecond, P99: 79070 * time.Microsecond}},
		{"testdata/wrk-errors.txt", wrkResult{Requests: 43387, ReqPerSec: 20670.38,
			P50: 231 * time.Microsecond, P99: 2770 * time.Microsecond, Non2xx: 6199, SockErrs: 10846}},
	} {
		out, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseWrk(string(out))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, got, tc.want)
		}
	}
}

func TestParseWrkWithoutLatency(t *testing.T) {
	if _, err := parseWrk("Requests/sec:  100.00\n"); err == nil {
		t.Fatal("want an error for output without --latency")
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"231.00us": 231 * time.Microsecond, "2.38ms": 2380 * time.Microsecond,
		"1.02s": 1020 * time.Millisecond, "1.50m": 90 * time.Second,
	} {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("%s: got %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseActiveOpens(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails\n" +
		"Tcp: 1 200 120000 -1 4321 17 3\nUdp: InDatagrams\nUdp: 5\n"
	if n, err := parseActiveOpens(snmp); err != nil || n != 4321 {
		t.Fatalf("parseActiveOpens = %d, %v; want 4321", n, err)
	}
	if _, err := parseActiveOpens("Ip: Forwarding\nIp: 1\n"); err == nil {
		t.Fatal("no Tcp lines: want an error")
	}
}
