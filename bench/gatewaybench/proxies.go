package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// proxy is one reverse proxy under test: how to configure and start it.
type proxy struct {
	name string
	// setup writes the proxy's config into dir and returns its command line
	// and extra environment.
	setup func(c *config, dir, listen, upstream string) (args, env []string, err error)
}

var proxies = []proxy{
	{"tandem", setupTandem},
	{"nginx", setupNginx},
	{"caddy", setupCaddy},
}

// runProxies is part 1: one upstream, and wrk against it directly and then
// through each proxy in turn, one proxy running at a time.
func runProxies(ctx context.Context, c *config, rep *report) error {
	bin := filepath.Join(c.tmp, "upstream")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./bench/upstream").CombinedOutput(); err != nil {
		return fmt.Errorf("build the upstream: %w\n%s", err, out)
	}
	upstream, err := listenAddr()
	if err != nil {
		return err
	}
	up, err := start("upstream", c.tmp, nil, filepath.Join(c.tmp, "upstream.log"), bin, "-listen", upstream)
	if err != nil {
		return err
	}
	defer up.stop(5 * time.Second)
	if err := up.waitPort(ctx, upstream, 10*time.Second); err != nil {
		return err
	}
	res, err := c.measure(ctx, "direct", load{threads: 2, conns: 64, url: "http://" + upstream + "/"})
	if err != nil {
		return err
	}
	rep.add(row{group: "proxy", path: "direct", conns: 64, res: res})

	var errs []error
	for _, px := range proxies {
		if err := c.measureProxy(ctx, px, upstream, rep); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.add(row{group: "proxy", path: px.name, conns: 64, note: "failed (see below)"})
			errs = append(errs, fmt.Errorf("%s: %w", px.name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *config) measureProxy(ctx context.Context, px proxy, upstream string, rep *report) error {
	if px.name == "tandem" && !c.hasGateway(ctx) {
		rep.add(row{group: "proxy", path: "tandem", conns: 64, note: "skipped: " + c.tandem + " has no gateway subcommand yet"})
		return nil
	}
	listen, err := listenAddr()
	if err != nil {
		return err
	}
	dir := filepath.Join(c.tmp, px.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args, env, err := px.setup(c, dir, listen, upstream)
	if err != nil {
		return err
	}
	p, err := start(px.name, dir, env, filepath.Join(dir, "output.log"), args...)
	if err != nil {
		return err
	}
	defer p.stop(10 * time.Second)
	if err := p.waitPort(ctx, listen, 60*time.Second); err != nil {
		return err
	}
	res, err := c.measure(ctx, px.name, load{threads: 2, conns: 64, url: "http://" + listen + "/"})
	if err != nil {
		return err
	}
	r := row{group: "proxy", path: px.name, conns: 64, res: res}
	if px.name == "tandem" {
		r.note = fmt.Sprintf("%d preview sites loaded", previewSites)
		if bad := c.checkPreviewSite(ctx, listen); bad != "" {
			r.note = bad
		}
	}
	// After the run: what the proxy holds once it has served the load.
	if r.rss, err = groupRSS(p.cmd.Process.Pid); err != nil {
		return fmt.Errorf("RSS after the run: %w\n%s", err, tail(p.log, 20))
	}
	rep.add(r)
	return nil
}

// hasGateway says whether this tandem has the gateway subcommand yet.
func (c *config) hasGateway(ctx context.Context) bool {
	return exec.CommandContext(ctx, c.tandem, "gateway", "--help").Run() == nil
}

// checkPreviewSite asks for a route of the last generated site, whose
// service does not listen: tandem must answer for it, which shows the
// 10,000 sites are loaded. It returns a note for the table, or "".
func (c *config) checkPreviewSite(ctx context.Context, listen string) string {
	status, body, err := probe(ctx, load{url: "http://" + listen + "/api/x", host: fmt.Sprintf("pr-%d.previews.example.com", previewSites)})
	if err != nil {
		return "could not ask a preview site: " + err.Error()
	}
	if status < 500 || !strings.Contains(body, `"status":"error"`) {
		return fmt.Sprintf("pr-%d.previews.example.com/api/x answered %d, not its JSON error: host routing?", previewSites, status)
	}
	return ""
}

// previewSites is how many sites tandem holds besides the benchmarked one.
const previewSites = 10000

func setupTandem(c *config, dir, listen, upstream string) ([]string, []string, error) {
	admin, err := listenAddr()
	if err != nil {
		return nil, nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin: %s\naccess_log: off\nsites:\n", listen, admin)
	fmt.Fprintf(&b, "  - name: bench\n    default: true\n    routes:\n      - { path: /, to: %s }\n", upstream)
	// Ports 1 and 2 on loopback: nothing listens, nothing is asked.
	for i := 1; i <= previewSites; i++ {
		fmt.Fprintf(&b, "  - name: pr-%d\n    hosts: [pr-%d.previews.example.com]\n    routes:\n"+
			"      - { path: /api/, to: 127.0.0.1:1, strip_prefix: true, errors: json }\n"+
			"      - { path: /, to: 127.0.0.1:2 }\n", i, i)
	}
	file := filepath.Join(dir, "tandem-gateway.yaml")
	if err := writeFile(file, b.String()); err != nil {
		return nil, nil, err
	}
	return []string{c.tandem, "gateway", "--config", file}, nil, nil
}

// setupNginx configures upstream keep-alive as nginx's documentation
// recommends, and the headers of the seed article's configuration.
func setupNginx(_ *config, dir, listen, upstream string) ([]string, []string, error) {
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream bench {
    server %[3]s;
    keepalive 64;
  }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, dir, listen, upstream)
	file := filepath.Join(dir, "nginx.conf")
	if err := writeFile(file, conf); err != nil {
		return nil, nil, err
	}
	return []string{"nginx", "-p", dir, "-c", file, "-e", filepath.Join(dir, "error.log")}, nil, nil
}

func setupCaddy(_ *config, dir, listen, upstream string) ([]string, []string, error) {
	conf := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\n\nhttp://%s {\n\treverse_proxy %s\n}\n", listen, upstream)
	file := filepath.Join(dir, "Caddyfile")
	if err := writeFile(file, conf); err != nil {
		return nil, nil, err
	}
	// Caddy keeps state under XDG dirs; keep it out of root's home.
	env := []string{"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")}
	return []string{"caddy", "run", "--config", file, "--adapter", "caddyfile"}, env, nil
}

// listenAddr is a free loopback address.
func listenAddr() (string, error) {
	port, err := freePort()
	return fmt.Sprintf("127.0.0.1:%d", port), err
}

// writeFile writes a generated config.
func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o644)
}
