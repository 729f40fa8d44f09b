package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-dev/tandem/internal/testutil"
)

func TestGatewayConfigProblemsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"unknown key", "listen: :1\nsites:\n  - name: a\n    default: true\n    rotues: []\n", `gw.yaml: line 5: field rotues not found`},
		{"bad route", "listen: :1\nsites:\n  - name: a\n    default: true\n    routes:\n      - { path: api/, to: api:8000 }\n", `gw.yaml:6: site "a": route path "api/" must start with /`},
		{"bad target", "listen: :1\nsites:\n  - name: a\n    default: true\n    routes:\n      - { path: /, to: api }\n", `gw.yaml:6: site "a": route /: to "api" must be service:port (or host:port)`},
		{"bad errors", "listen: :1\nsites:\n  - name: a\n    default: true\n    routes:\n      - { path: /, to: api:1, errors: xml }\n", `gw.yaml:6: site "a": route /: errors must be html or json, not "xml"`},
		{"duplicate site", "listen: :1\nsites:\n  - {name: a, default: true, routes: [{path: /, to: a:1}]}\n  - {name: a, hosts: [x], routes: [{path: /, to: a:1}]}\n", `gw.yaml:4: site "a" is already defined at line 3`},
		{"two defaults", "listen: :1\nsites:\n  - {name: a, default: true, routes: [{path: /, to: a:1}]}\n  - {name: b, default: true, routes: [{path: /, to: a:1}]}\n", `gw.yaml:4: site "b": only one site can be the default`},
		{"host twice", "listen: :1\nsites:\n  - {name: a, hosts: [X.example.com], routes: [{path: /, to: a:1}]}\n  - {name: b, hosts: [x.example.com.], routes: [{path: /, to: a:1}]}\n", `gw.yaml:4: site "b": host "x.example.com." is already answered by site "a"`},
		{"no host", "listen: :1\nsites:\n  - {name: a, routes: [{path: /, to: a:1}]}\n", `gw.yaml:3: site "a" answers no host`},
		{"bad duration", "listen: :1\ntimeouts: {dial: soon}\nsites: []\n", `gw.yaml: line 2: "soon" is not a duration`},
		{"bad proxy", "listen: :1\ntrusted_proxies: [10.0.0.0/33]\nsites: []\n", `gw.yaml:1: trusted_proxies: "10.0.0.0/33" is not an address or CIDR`},
		{"no listener", "sites: []\n", `gw.yaml:1: no listen address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "gw.yaml")
			writeFile(t, file, tc.file)
			_, err := readGatewayConfig(file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestGatewayConfigBuildsSitesAndKeepsUnchangedOnes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gw.yaml")
	writeFile(t, file, `listen: 127.0.0.1:0
trusted_proxies: [10.0.0.0/8, 192.168.1.1]
sites:
  - name: shop
    default: true
    upstreams: { api: 10.1.2.3, web: 10.1.2.4:3001 }
    routes:
      - { path: /api/, to: api:8000, strip_prefix: true, errors: json }
      - { path: /, to: web:3000 }
  - name: docs
    hosts: [docs.example.com]
    routes:
      - { path: /, to: 127.0.0.1:4000 }
`)
	cfg, err := readGatewayConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.proxies) != 2 || cfg.proxies[1].String() != "192.168.1.1/32" {
		t.Errorf("proxies %v", cfg.proxies)
	}
	sites := map[string]*siteState{}
	table := buildTable(cfg, sites)
	if table.Default == nil || table.Default.Name != "shop" || len(table.Default.Routes) != 2 || !table.Default.Routes[0].StripPrefix {
		t.Fatalf("default site %+v", table.Default)
	}
	shop, docs := sites["shop"].site, sites["docs"].site
	// A reload that changes one site keeps the other's *Site, and its connections.
	cfg.Sites[1].Routes[0].To = "127.0.0.1:4001"
	buildTable(cfg, sites)
	if sites["shop"].site != shop || sites["docs"].site == docs {
		t.Error("a reload rebuilt the unchanged site or kept the changed one")
	}
	cfg.Sites = cfg.Sites[:1]
	buildTable(cfg, sites)
	if _, ok := sites["docs"]; ok {
		t.Error("a removed site was kept")
	}
}

// The gateway reloads without dropping a request: wrk runs while SIGHUP
// reloads add 1,000 instances and remove them again, over and over.
func TestGatewayReloadUnderLoad(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk is needed for this test: run make deps")
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"success","data":{},"error":null}`)
	}))
	defer upstream.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "gateway.yaml")
	port := freePort(t)
	config := func(instances int) {
		var b strings.Builder
		fmt.Fprintf(&b, "listen: 127.0.0.1:%d\naccess_log: off\nsites:\n  - name: stable\n    default: true\n    routes: [{ path: /, to: %s }]\n",
			port, strings.TrimPrefix(upstream.URL, "http://"))
		for i := 0; i < instances; i++ {
			fmt.Fprintf(&b, "  - {name: pr-%d, hosts: [pr-%d.previews.example.com], routes: [{path: /api/, to: 127.0.0.1:1, strip_prefix: true}, {path: /, to: 127.0.0.1:2}]}\n", i, i)
		}
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Rename(tmp, file) // a reload never reads half a file
	}
	config(0)
	p := start(t, "gateway", "--config", file)
	p.waitOutput(t, "tandem: gateway on", 30*time.Second)

	wrk := exec.Command("wrk", "-t2", "-c64", "-d8s", fmt.Sprintf("http://127.0.0.1:%d/", port))
	var out testutil.Buffer
	wrk.Stdout, wrk.Stderr = &out, &out
	if err := wrk.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- wrk.Wait() }()
	// Each SIGHUP waits for the gateway to report the reload before the
	// next file is written (SIGHUPs that arrive during a reload are one
	// reload, as for any daemon): each reload is seen to read the file
	// written for it.
	reported := regexp.MustCompile(`tandem: reloaded .*: (\d+) sites`)
	reloads := 0
	for loop := true; loop; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out.String())
			}
			loop = false
		default:
			sites := 1 + 1000*((reloads+1)%2)
			config(sites - 1)
			p.cmd.Process.Signal(syscall.SIGHUP)
			reloads++
			eventually(t, fmt.Sprintf("reload %d to be reported", reloads), 30*time.Second, func() string {
				lines := reported.FindAllStringSubmatch(p.out.String(), -1)
				if len(lines) < reloads {
					return fmt.Sprintf("%d reloads reported", len(lines))
				}
				if got := lines[reloads-1][1]; got != strconv.Itoa(sites) {
					t.Fatalf("reload %d read %s sites, want %d", reloads, got, sites)
				}
				return ""
			})
		}
	}
	report := out.String()
	if strings.Contains(report, "Non-2xx") || strings.Contains(report, "Socket errors") || !strings.Contains(report, "Requests/sec") {
		t.Errorf("wrk during %d reloads:\n%s", reloads, report)
	}
	// The stable site kept its connections through every reload.
	if reloads < 4 {
		t.Errorf("only %d reloads during wrk's 8 s", reloads)
	}
	t.Logf("%d reloads (1,000 instances added or removed each) under wrk:\n%s", reloads, report)
}

// selfSigned writes a certificate for *.previews.example.com and returns
// the files and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "*.previews.example.com"},
		DNSNames:  []string{"*.previews.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

func TestGatewayTLSAndRedirect(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Host, r.Header.Get("X-Forwarded-Proto"), r.URL.Path)
	}))
	defer upstream.Close()
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	plain, secure := freePort(t), freePort(t)
	file := filepath.Join(dir, "gateway.yaml")
	writeFile(t, file, fmt.Sprintf(`listen: 127.0.0.1:%d
tls: { listen: 127.0.0.1:%d, cert: %s, key: %s, redirect_http: true }
access_log: off
sites:
  - name: pr-7
    hosts: ["*.previews.example.com"]
    routes: [{ path: /, to: %s }]
`, plain, secure, cert, key, strings.TrimPrefix(upstream.URL, "http://")))
	p := start(t, "gateway", "--config", file)
	p.waitOutput(t, "tandem: gateway on", 30*time.Second)

	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", secure))
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: dial, ForceAttemptHTTP2: true}}
	resp, err := c.Get("https://pr-7.previews.example.com/page")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "pr-7.previews.example.com https /page" {
		t.Errorf("%s %q", resp.Proto, b)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/page?x=1", plain), nil)
	req.Host = "pr-7.previews.example.com"
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := fmt.Sprintf("https://pr-7.previews.example.com:%d/page?x=1", secure); resp.StatusCode != 308 || resp.Header.Get("Location") != want {
		t.Errorf("redirect: %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}
