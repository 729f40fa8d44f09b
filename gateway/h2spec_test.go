package gateway

import (
	"encoding/xml"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// h2specKnown are the h2spec cases x/net's HTTP/2 server fails by design,
// and why (docs/benchmarks.md says more). Any other failure fails the test.
var h2specKnown = map[string]string{
	// It hangs up on a SETTINGS frame that repeats an identifier, as a
	// defence ("suspiciously ... duplicate entries"); RFC 9113 asks for
	// the values to be applied in order.
	"http2/6.5.3/1": "x/net closes the connection on duplicate settings",
	// It answers a request with a connection-specific header (or TE other
	// than trailers) with 400 and ends the stream, which RFC 9113 section
	// 8.1.1 allows; h2spec wants RST_STREAM (golang/go#26321).
	"http2/8.1.2.2/1": "x/net answers 400 where h2spec wants RST_STREAM",
	"http2/8.1.2.2/2": "x/net answers 400 where h2spec wants RST_STREAM",
}

// TestH2Spec runs h2spec (github.com/summerwind/h2spec), the HTTP/2
// conformance suite, against the TLS listener: 145 cases in about 10 s.
// make h2spec runs it against bin/tandem.
func TestH2Spec(t *testing.T) {
	bin := h2specBinary(t)
	// A body of 5 bytes or more, or h2spec skips its flow-control case 6.9.2/2.
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(make([]byte, 1024)) })
	h := newHarness(t, viaH2, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": page})
	host, port, _ := net.SplitHostPort(h.Addr)
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	out, err := exec.Command(bin, "-t", "-k", "-h", host, "-p", port, "-j", report).CombinedOutput()
	cases, perr := readH2specReport(report)
	if perr != nil {
		t.Fatalf("h2spec: %v (%v)\n%s", perr, err, out)
	}
	passed := 0
	for _, c := range cases {
		switch {
		case c.skipped:
			t.Errorf("h2spec %s skipped: %s", c.id, c.name)
		case c.failed && h2specKnown[c.id] == "":
			t.Errorf("h2spec %s fails: %s", c.id, c.name)
		case c.failed:
			t.Logf("h2spec %s fails as known: %s", c.id, h2specKnown[c.id])
		case h2specKnown[c.id] != "":
			t.Logf("h2spec %s passes now: drop it from h2specKnown and docs/benchmarks.md", c.id)
			passed++
		default:
			passed++
		}
	}
	if len(cases) < 145 {
		t.Errorf("h2spec ran %d cases, want 145", len(cases))
	}
	t.Logf("h2spec: %d of %d passed", passed, len(cases))
	if t.Failed() {
		t.Logf("%s", out)
	}
}

type h2specCase struct {
	id, name        string // id as h2spec prints it, under its group: "http2/6.5.3/1"
	failed, skipped bool
}

// readH2specReport reads h2spec's JUnit report.
func readH2specReport(file string) ([]h2specCase, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var r struct {
		Suites []struct {
			Package string `xml:"package,attr"`
			Cases   []struct {
				Name    string    `xml:"classname,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	var cases []h2specCase
	for _, s := range r.Suites {
		for i, c := range s.Cases {
			cases = append(cases, h2specCase{s.Package + "/" + strconv.Itoa(i+1), c.Name, c.Failure != nil || c.Error != nil, c.Skipped != nil})
		}
	}
	return cases, nil
}

// h2specBinary finds h2spec (on PATH, in GOPATH/bin, or built before into
// the user's cache) or builds it there; the test is skipped only when it
// cannot be built.
func h2specBinary(t *testing.T) string {
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	var dirs []string
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(gopath)), "bin"))
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cache = filepath.Join(cache, "tandem", "h2spec")
	for _, d := range append(dirs, cache) {
		if p := filepath.Join(d, "h2spec"); isExecutable(p) {
			return p
		}
	}
	cmd := exec.Command("go", "install", "github.com/summerwind/h2spec/cmd/h2spec@latest")
	cmd.Env = append(os.Environ(), "GOBIN="+cache)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("h2spec is not installed and cannot be built (go install github.com/summerwind/h2spec/cmd/h2spec@latest): %v\n%s", err, out)
	}
	return filepath.Join(cache, "h2spec")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
