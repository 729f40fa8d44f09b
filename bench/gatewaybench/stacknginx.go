package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// startStackNginx runs nginx in front of the stack's Django as the seed
// article's edge does it, with upstream keep-alive as nginx's documentation
// recommends: /api/ stripped and passed to gunicorn, Host kept. gunicorn
// listens only inside the stack's network namespace, which has no address
// but loopback, so nginx runs in that namespace (as an edge container
// shares the stack's network under Compose) and wrk reaches it there; it
// pays no namespace change per connection, tandem's gateway does. It
// returns the address nginx listens on in the namespace. Like tandem up, it
// logs every request, in batches (the article keeps nginx's default log).
func startStackNginx(ctx context.Context, c *config, netns string) (*proc, string, error) {
	port, err := freePort() // free here; the namespace has only the stack's ports in use
	if err != nil {
		return nil, "", err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	dir := filepath.Join(c.tmp, "stack-nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log %[1]s/access.log combined buffer=32k flush=1s;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream django {
    server 127.0.0.1:8000;
    keepalive 16;
  }
  server {
    listen %[2]s;
    location /api/ {
      proxy_pass http://django/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`, dir, listen)
	file := filepath.Join(dir, "nginx.conf")
	if err := writeFile(file, conf); err != nil {
		return nil, "", err
	}
	p, err := start("nginx (stack)", dir, nil, filepath.Join(dir, "output.log"),
		"nsenter", "--net="+netns, "nginx", "-p", dir, "-c", file, "-e", filepath.Join(dir, "error.log"))
	if err != nil {
		return nil, "", err
	}
	if err := p.waitIn(ctx, load{url: "http://" + listen + "/", netns: netns}, 30*time.Second); err != nil {
		p.stop(10 * time.Second)
		return nil, "", err
	}
	return p, listen, nil
}

// waitIn waits until l's server answers at all (any status), failing early
// if p exits.
func (p *proc) waitIn(ctx context.Context, l load, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		status, _, err := probe(ctx, l)
		if err == nil && status > 0 {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before answering at %s: %v\n%s", p.name, l.url, p.err, tail(p.log, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing answers at %s after %v: %v\n%s", p.name, l.url, timeout, err, tail(p.log, 20))
		}
	}
}
