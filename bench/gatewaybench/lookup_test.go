package main

import (
	"fmt"
	"runtime"
	"testing"
)

func TestParseLookup(t *testing.T) {
	n := runtime.GOMAXPROCS(0)
	out := fmt.Sprintf(`goos: linux
pkg: github.com/tandem-dev/tandem/gateway
BenchmarkLookup/sites=10-%[1]d         	48381540	        24.61 ns/op	       0 B/op	       0 allocs/op
BenchmarkLookup/sites=10000-%[1]d      	40000000	        30.02 ns/op
BenchmarkLookup/wildcard/1000-%[1]d    	40000000	        41.5 ns/op
BenchmarkLookupHost-%[1]d              	40000000	        41.5 ns/op
PASS
`, n)
	got := parseLookup(out)
	want := []lookupResult{{"sites=N", 10, 24.61}, {"sites=N", 10000, 30.02}, {"wildcard/N", 1000, 41.5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
