package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// lookupResult is one sub-benchmark of BenchmarkLookup.
type lookupResult struct {
	name  string // the sub-benchmark without its size, "" if only the size
	sites int
	nsOp  float64
}

// runLookup is part 3: the gateway's own route lookup benchmark at 10, 1,000
// and 10,000 sites, run as go test runs it.
func runLookup(ctx context.Context, c *config, rep *report) error {
	if !hasLookupBenchmark("gateway") {
		rep.lookupNote = "skipped: ./gateway/ has no BenchmarkLookup yet"
		return nil
	}
	out, err := command(ctx, "go", "test", "-run", "^$", "-bench", "BenchmarkLookup", "-benchtime", c.benchtime, "./gateway/").CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench BenchmarkLookup ./gateway/: %w\n%s", err, out)
	}
	if rep.lookup = parseLookup(string(out)); len(rep.lookup) == 0 {
		return fmt.Errorf("go test printed no BenchmarkLookup/... sub-benchmark:\n%s", out)
	}
	return nil
}

// hasLookupBenchmark says whether dir's tests define BenchmarkLookup; while
// they do not, the part is skipped, even if they do not compile just now.
func hasLookupBenchmark(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "func BenchmarkLookup(") {
			return true
		}
	}
	return false
}

// digits is the size in a sub-benchmark's name: the last number in it.
var digits = regexp.MustCompile(`\d+`)

// parseLookup reads go test -bench lines such as
// "BenchmarkLookup/sites=10000-2   12345678   95.3 ns/op".
func parseLookup(out string) []lookupResult {
	var rs []lookupResult
	suffix := "-" + strconv.Itoa(runtime.GOMAXPROCS(0)) // go test's, run with our environment
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkLookup/") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(f[0], "BenchmarkLookup/"), suffix)
		loc := digits.FindAllStringIndex(name, -1)
		if len(loc) == 0 {
			continue
		}
		last := loc[len(loc)-1]
		sites, _ := strconv.Atoi(name[last[0]:last[1]])
		for i := 2; i < len(f); i++ {
			if f[i] == "ns/op" {
				ns, err := strconv.ParseFloat(f[i-1], 64)
				if err == nil {
					rs = append(rs, lookupResult{name: name[:last[0]] + "N" + name[last[1]:], sites: sites, nsOp: ns})
				}
			}
		}
	}
	return rs
}
