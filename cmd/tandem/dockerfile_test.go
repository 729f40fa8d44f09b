package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerfileServer answers every request with the GREETING its image's
// ENV sets, and logs the health probes the Dockerfile's HEALTHCHECK makes.
const dockerfileServer = `import http.server, os, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            print("health probe", self.path, flush=True)
        body = ("hello from %s\n" % os.environ.get("GREETING", "nowhere")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8000"))
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
`

const dockerfileHealth = `import os, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/healthz" % os.environ.get("PORT", "8000"), timeout=2).read()
`

// dockerfileStack is a stack whose one service has a build context and no
// command: it runs what the Dockerfile's last lines say.
func dockerfileStack(t *testing.T, last ...string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app", "server.py"), dockerfileServer)
	writeFile(t, filepath.Join(dir, "app", "health.py"), dockerfileHealth)
	writeFile(t, filepath.Join(dir, "app", "requirements.txt"), "")
	writeFile(t, filepath.Join(dir, "app", "Dockerfile"), strings.Join(append([]string{
		"FROM python:3.12-slim",             // 1
		"ENV GREETING=dockerfile PORT=8000", // 2
		"WORKDIR /app",                      // 3
		"COPY . .",                          // 4
		"RUN pip install --no-cache-dir -r requirements.txt", // 5
		"EXPOSE 8000", // 6
	}, last...), "\n")+"\n")
	writeFile(t, filepath.Join(dir, "compose.yml"), `x-tandem:
  routes:
    - { path: /, to: app:8000 }
services:
  app:
    build: ./app
`)
	return filepath.Join(dir, "compose.yml")
}

func TestDockerfileCommandRunsBehindTheGateway(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name string
		last []string
	}{
		{"exec-form CMD", []string{
			`HEALTHCHECK --interval=1s --timeout=3s CMD ["python3", "health.py"]`,
			`CMD ["python3", "server.py"]`,
		}},
		{"ENTRYPOINT with CMD as its arguments", []string{
			`HEALTHCHECK --interval=1s --timeout=3s CMD python3 health.py`,
			`ENTRYPOINT ["python3", "server.py"]`,
			`CMD ["8000"]`,
		}},
		{"shell-form CMD", []string{
			`HEALTHCHECK --interval=1s --timeout=3s CMD ["python3", "health.py"]`,
			`CMD exec python3 server.py $PORT`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := dockerfileStack(t, tc.last...)
			port := freePort(t)
			p := start(t, "up", "-f", file, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir())
			p.waitOutput(t, "is up at", time.Minute)
			// The stack is up only once the Dockerfile's healthcheck passed.
			if out := p.out.String(); !strings.Contains(out, "health probe /healthz") {
				t.Errorf("no health probe from the Dockerfile's HEALTHCHECK before the stack was up:\n%s", lastLines(out, 30))
			}
			r := fetch(t, &http.Client{Timeout: 10 * time.Second}, "GET", fmt.Sprintf("http://localhost:%d/", port), nil, nil)
			if r.status != 200 || r.body != "hello from dockerfile\n" {
				t.Errorf("GET / through the gateway: %d %q", r.status, r.body)
			}
			// tandem up says what the Dockerfile does that it does not.
			if want := `Dockerfile:5: warning: service "app": RUN pip install`; !strings.Contains(p.out.String(), want) {
				t.Errorf("tandem up's output lacks %q", want)
			}
			p.stop(t, 30*time.Second)
		})
	}
}

func TestDockerfileCheckWarnsAtItsLines(t *testing.T) {
	file := dockerfileStack(t, `USER nobody`, `CMD ["python3", "server.py"]`)
	code, out := run(t, "check", "-f", file)
	dockerfile := filepath.Join(filepath.Dir(file), "app", "Dockerfile")
	want := []string{
		dockerfile + `:5: warning: service "app": RUN pip install --no-cache-dir -r requirements.txt is not run by the process runtime (it installs Python packages): install what it installs on this machine, or run it in x-tandem.build`,
		dockerfile + `:7: warning: service "app": USER nobody is not honoured by the process runtime: the service runs as the user that runs tandem`,
	}
	if code != 0 || strings.TrimSpace(out) != strings.Join(want, "\n") {
		t.Errorf("exit status %d, output:\n%s\nwant:\n%s", code, out, strings.Join(want, "\n"))
	}

	// Without CMD, the service has nothing to run.
	file = dockerfileStack(t)
	code, out = run(t, "check", "-f", file)
	if code != 1 || !strings.Contains(out, file+`:5: service "app" has no command and no CMD in its Dockerfile`) {
		t.Errorf("no CMD: exit status %d, output:\n%s", code, out)
	}
}
