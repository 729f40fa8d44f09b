package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// initdbStack writes a stack whose database is set up by the postgres
// image's /docker-entrypoint-initdb.d scripts, mounted from the project, and
// whose api service answers with the rows they made.
func initdbStack(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "initdb", "01-schema.sql"), "create table article (title text);\n")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("insert into article values ('Seeded by SQL'), ('Gzipped too');\n"))
	w.Close()
	writeFile(t, filepath.Join(dir, "initdb", "02-data.sql.gz"), gz.String())
	writeFile(t, filepath.Join(dir, "initdb", "03-grant.sh"), `#!/bin/bash
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
create role reader login password 'reader-pw';
grant select on article to reader;
SQL
`)
	if err := os.Chmod(filepath.Join(dir, "initdb", "03-grant.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "api", "serve.py"), `import http.server, subprocess
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        r = subprocess.run(["psql", "-h", "db", "-U", "reader", "-d", "shop", "-tAc",
                            "select string_agg(title, ' | ' order by title) from article"],
                           capture_output=True, text=True)
        body = (r.stdout if r.returncode == 0 else r.stderr).encode()
        self.send_response(200 if r.returncode == 0 else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("0.0.0.0", 8000), H).serve_forever()
`)
	writeFile(t, filepath.Join(dir, "compose.yml"), `x-tandem:
  routes:
    - { path: /, to: api:8000 }
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: owner
      POSTGRES_PASSWORD: owner-pw
      POSTGRES_DB: shop
    volumes: ["./initdb:/docker-entrypoint-initdb.d:ro"]
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U owner -d shop"]
      interval: 1s
      retries: 60
  api:
    build: ./api
    command: ["/usr/bin/python3", "serve.py"]
    environment:
      PGPASSWORD: reader-pw
    depends_on:
      db: { condition: service_healthy }
`)
	return filepath.Join(dir, "compose.yml")
}

func TestUpRunsInitdbScripts(t *testing.T) {
	needRoot(t)
	file := initdbStack(t)
	port := freePort(t)
	p := start(t, "up", "-f", file, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir())
	p.waitOutput(t, "is up at", 2*time.Minute)
	c := &http.Client{Timeout: 10 * time.Second}
	r := fetch(t, c, "GET", fmt.Sprintf("http://localhost:%d/", port), nil, nil)
	if r.status != 200 || strings.TrimSpace(r.body) != "Gzipped too | Seeded by SQL" {
		t.Errorf("GET /: %d %q", r.status, r.body)
	}
	out := squeeze(p.out.String())
	for _, want := range []string{"db | tandem-initdb: running", "03-grant.sh", "ran 3 script(s) of /docker-entrypoint-initdb.d"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
