package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/check"
	"github.com/tandem-dev/tandem/compose"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// routesCmd runs tandem routes in-process, its stdout (the YAML) apart.
func routesCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), append([]string{"routes"}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// seedNginx is the seed article's nginx service in front of Django and
// Next.js, plus a location that strips its prefix through an upstream
// block. Service names are as in the Compose file; LISTEN is the port.
const seedNginx = `upstream legacy_pool {
    server legacy:9000;
}

server {
    listen LISTEN;

    location /search/ {
        proxy_pass http://nextjs:3000;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
    }

    location /api/ {
        proxy_pass http://django:8000;
        proxy_set_header Host $host;
    }

    location /v1/ {
        proxy_pass http://legacy_pool/;
    }

    location / {
        proxy_pass http://django:8000;
    }
}
`

// seedServices are the seed's Compose services, with nginx under the
// profile tandem does not enable, as tandem check advises.
const seedServices = `
services:
  nginx:
    image: nginx:alpine
    profiles: [docker]
    ports: ["80:80"]
    volumes:
      - ./nginx.conf:/etc/nginx/conf.d/default.conf
      - ./html:/usr/share/nginx/html:ro
  django:
    build: ./django-app
    command: gunicorn config.wsgi:application --bind 0.0.0.0:8000
    expose: ["8000"]
  nextjs:
    build: ./next-app
    command: npm run start
    ports: ["3000:3000"]
  legacy:
    build: ./legacy
    command: ./serve --port 9000
    expose: ["9000"]
`

// The seed's project converts by pasting: the printed block, added to the
// Compose file, loads with the routes nginx has and nothing to report.
func TestRoutesFromTheSeedsNginxPaste(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	writeFile(t, conf, strings.Replace(seedNginx, "LISTEN", "80", 1))
	code, yaml, warnings := routesCmd(t, "--from-nginx", conf)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, warnings)
	}
	if !strings.Contains(warnings, "nginx.conf:24: warning: nginx sends Host: django:8000 here") {
		t.Errorf("stderr lacks the Host difference of location /:\n%s", warnings)
	}
	writeFile(t, filepath.Join(dir, "compose.yml"), yaml+seedServices)
	st := loadPasted(t, dir)
	var got []string
	for _, r := range st.Routes {
		got = append(got, fmt.Sprintf("%s %s strip=%v", r.Path, r.Target(), r.StripPrefix))
	}
	want := []string{"/search/ nextjs:3000 strip=false", "/api/ django:8000 strip=false", "/v1/ legacy:9000 strip=true", "/ django:8000 strip=false"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("routes:\n%s\nwant\n%s\nfrom\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), yaml)
	}
}

// loadPasted loads dir/compose.yml and fails on any problem check finds.
func loadPasted(t *testing.T, dir string) *tandem.Stack {
	t.Helper()
	st, err := compose.Load(context.Background(), compose.Options{Files: []string{filepath.Join(dir, "compose.yml")}})
	if err != nil {
		t.Fatalf("the pasted block does not load: %v", err)
	}
	if problems := check.Stack(st, nil); len(problems) > 0 {
		t.Errorf("tandem check: %v", problems)
	}
	return st
}

// With the Compose file, the error page nginx serves from a mounted
// directory becomes the routes' error_page.
func TestRoutesFindErrorPagesThroughVolumes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "nginx.conf", "server {\n  error_page 502 503 504 /50x.html;\n  location = /50x.html { root /usr/share/nginx/html; }\n"+
		"  location / { proxy_pass http://django:8000; proxy_set_header Host $host; }\n}\n")
	writeFile(t, "html/50x.html", "<h1>Back soon</h1>")
	writeFile(t, "compose.yml", seedServices)
	code, yaml, warnings := routesCmd(t, "--from-nginx", "nginx.conf")
	if code != 0 || warnings != "" || !strings.Contains(yaml, "- { path: /, to: django:8000, error_page: html/50x.html }") {
		t.Fatalf("exit %d\n%s\n%s", code, yaml, warnings)
	}
	writeFile(t, "compose.yml", yaml+seedServices)
	if st := loadPasted(t, dir); st.Routes[0].ErrorPage != filepath.Join(dir, "html/50x.html") {
		t.Errorf("error page %q", st.Routes[0].ErrorPage)
	}

	// Without a Compose file to say where the page is, it stays a warning.
	os.Remove("compose.yml")
	code, yaml, warnings = routesCmd(t, "--from-nginx", "nginx.conf")
	if code != 0 || strings.Contains(yaml, "error_page:") || !strings.Contains(warnings, "nginx.conf:2: warning: error_page 502 503 504 /50x.html: the page is /usr/share/nginx/html/50x.html inside the nginx container") {
		t.Errorf("exit %d\n%s\n%s", code, yaml, warnings)
	}
}

func TestRoutesRefusals(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "printed.conf", "{\n  listen 80;\n  location / { proxy_pass http://django:8000; }\n}\n")
	writeFile(t, "static.conf", "server {\n  location / { root /srv; }\n}\n")
	writeFile(t, "compose.yml", "services: [")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "tandem: name the nginx config: tandem routes --from-nginx FILE"},
		{[]string{"--from-nginx", "missing.conf"}, "tandem: open missing.conf: no such file or directory"},
		{[]string{"--from-nginx", "printed.conf"}, `tandem: printed.conf:1: a block without a name: nginx wants "server {"`},
		{[]string{"--from-nginx", "static.conf", "-f", "compose.yml"}, "tandem: compose.yml"},
		{[]string{"--from-nginx", "static.conf"}, "static.conf:2: warning: location / serves files from /srv: not converted; tandem answers these requests 404\n" +
			"tandem: static.conf: no location proxies to a service: no routes to print"},
	} {
		code, out, errOut := routesCmd(t, tc.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("routes %v: exit %d\n%s%s\nwant %s", tc.args, code, out, errOut, tc.want)
		}
	}
}

// nginxBinary finds Debian's nginx, which scripts/install-deps installs.
func nginxBinary(t *testing.T) string {
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("nginx is needed for this test: run scripts/install-deps (apt-get install nginx)")
	return ""
}

// echo is an upstream that answers with its name and the request-target it
// received.
func echo(t *testing.T, name string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name+" "+r.RequestURI)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// The routes printed for the seed's nginx config send every request where
// the real nginx, running that config, sends it: the same service, the
// same path, the same redirects.
func TestNginxAndItsRoutesAgree(t *testing.T) {
	bin := nginxBinary(t)
	addrs := map[string]string{"django": echo(t, "django"), "nextjs": echo(t, "nextjs"), "legacy": echo(t, "legacy")}
	dir := t.TempDir()

	// tandem reads the config as written for Compose, with service names.
	named := filepath.Join(dir, "named.conf")
	writeFile(t, named, strings.Replace(seedNginx, "LISTEN", "80", 1))
	code, yaml, warnings := routesCmd(t, "--from-nginx", named)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, warnings)
	}
	writeFile(t, filepath.Join(dir, "compose.yml"), yaml+seedServices)
	gw := startGateway(t, dir, loadPasted(t, dir).Routes, addrs)

	// nginx cannot resolve Compose names here: it gets the same config with
	// each service's address in place of its name.
	nginxConf := strings.Replace(seedNginx, "LISTEN", "127.0.0.1:"+fmt.Sprint(freePort(t)), 1)
	for name, addr := range map[string]string{"django:8000": addrs["django"], "nextjs:3000": addrs["nextjs"], "legacy:9000": addrs["legacy"]} {
		nginxConf = strings.ReplaceAll(nginxConf, name, addr)
	}
	ngx := startNginx(t, bin, dir, nginxConf)

	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tc := range []struct{ path, want string }{
		{"/", "200 django /"},
		{"/search/", "200 nextjs /search/"},
		{"/search/x?q=1", "200 nextjs /search/x?q=1"},
		{"/api/", "200 django /api/"},
		{"/api/items/7", "200 django /api/items/7"},
		{"/apix", "200 django /apix"},
		{"/other/deep", "200 django /other/deep"},
		{"/v1/", "200 legacy /"},
		{"/v1/users/7?x=1", "200 legacy /users/7?x=1"},
		{"/search", "301 /search/"},
		{"/api", "301 /api/"},
		{"/v1", "301 /v1/"},
		{"/search?q=1", "301 /search/?q=1"},
	} {
		for _, front := range []struct{ name, addr string }{{"nginx", ngx}, {"tandem", gw}} {
			if got := answer(t, client, "http://"+front.addr+tc.path); got != tc.want {
				t.Errorf("%s %s: %q, want %q", front.name, tc.path, got, tc.want)
			}
		}
	}
}

// answer is "STATUS BODY", or "301 LOCATION-PATH" for a redirect.
func answer(t *testing.T, c *http.Client, u string) string {
	resp, err := c.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusMovedPermanently {
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			return "301 " + resp.Header.Get("Location")
		}
		return "301 " + loc.RequestURI()
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

// startGateway runs tandem gateway with routes, each service at its
// address, and returns where it listens.
func startGateway(t *testing.T, dir string, routes []tandem.Route, addrs map[string]string) string {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	type route struct {
		Path        string `json:"path"`
		To          string `json:"to"`
		StripPrefix bool   `json:"strip_prefix"`
	}
	var rs []route
	for _, r := range routes {
		rs = append(rs, route{r.Path, r.Target(), r.StripPrefix})
	}
	site := map[string]any{"name": "seed", "default": true, "upstreams": addrs, "routes": rs}
	b, _ := json.Marshal(map[string]any{"listen": addr, "access_log": "off", "sites": []any{site}}) // JSON is YAML
	file := filepath.Join(dir, "gateway.yaml")
	writeFile(t, file, string(b))
	p := start(t, "gateway", "--config", file)
	p.waitOutput(t, "tandem: gateway on", 30*time.Second)
	return addr
}

// startNginx runs nginx in the foreground with conf as its only server
// block, everything it writes under dir, and returns where it listens.
func startNginx(t *testing.T, bin, dir, conf string) string {
	listen := strings.Fields(conf[strings.Index(conf, "listen ")+len("listen "):])[0]
	listen = strings.TrimSuffix(listen, ";")
	writeFile(t, filepath.Join(dir, "default.conf"), conf)
	main := fmt.Sprintf(`worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    include %[1]s/default.conf;
}
`, dir)
	writeFile(t, filepath.Join(dir, "nginx.conf"), main)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // workers run as nobody
	cmd := exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the master and its workers, stopped together
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			return listen
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept connections on %s after 30s", listen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
