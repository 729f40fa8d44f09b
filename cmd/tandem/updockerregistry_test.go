package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// localRegistry runs Debian's docker-registry on a loopback port of its own
// (the engine speaks plain HTTP to registries on 127.0.0.0/8) and returns
// its address.
func localRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("no docker-registry here: apt-get install docker-registry (make test-docker does)")
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := filepath.Join(dir, "config.yml")
	writeFile(t, conf, fmt.Sprintf("version: 0.1\nlog: { level: error }\nstorage: { filesystem: { rootdirectory: %s } }\nhttp: { addr: %s }\n", filepath.Join(dir, "data"), addr))
	cmd := exec.Command(bin, "serve", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	eventually(t, "the registry to answer", 30*time.Second, func() string {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return resp.Status
		}
		return ""
	})
	return addr
}

// ciImage builds the image of one of dockerStack's services as CI would,
// pushes it to the registry and removes it from the engine, so that tandem
// must pull it.
func ciImage(t *testing.T, context, ref string) {
	t.Helper()
	for _, args := range [][]string{
		{"build", "-q", "--build-arg", "GREETING=built by CI", "-t", ref, context},
		{"push", ref},
		{"rmi", ref},
	} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", args[0], err, out)
		}
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
}

// The preview article's preview file: api and web are images CI built and
// pushed, tagged with the commit; db is postgres:16. tandem up --runtime
// docker pulls them and serves the stack with the same routes and Host
// semantics as a stack built from source.
func TestUpDockerRunsCIImagesFromARegistry(t *testing.T) {
	needDocker(t, "local/busybox", "postgres:16")
	registry := localRegistry(t)
	src := filepath.Dir(dockerStack(t))
	b := make([]byte, 20)
	rand.Read(b)
	sha := hex.EncodeToString(b)
	ciImage(t, filepath.Join(src, "api"), registry+"/api:"+sha)
	ciImage(t, filepath.Join(src, "web"), registry+"/web:"+sha)

	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yml")
	// GIT_SHA is the preview's commit; tandem up has none, so the file's
	// default names the one CI built.
	writeFile(t, file, fmt.Sprintf(previewFile, registry, "${GIT_SHA:-"+sha+"}"))
	data := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	t.Setenv("GIT_SHA", "")
	p := start(t, "up", "-f", file, "--runtime", "docker", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data)
	p.waitOutput(t, "is up at", 5*time.Minute)
	if !strings.Contains(p.out.String(), "pulling "+registry+"/api:"+sha) {
		t.Errorf("tandem did not say it pulled the API's image:\n%s", p.out.String())
	}
	c := &http.Client{Timeout: 30 * time.Second}
	if r := fetch(t, c, "GET", base+"/", nil, nil); r.status != 200 || strings.TrimSpace(r.body) != "built by CI" {
		t.Errorf("GET / = %d %q", r.status, r.body)
	}
	if r := fetch(t, c, "GET", base+"/api/cgi-bin/host", nil, nil); !strings.Contains(r.body, fmt.Sprintf("host=localhost:%d", port)) {
		t.Errorf("the API saw %q through the gateway, want the browser's host", r.body)
	}
	if r := fetch(t, c, "GET", base+"/cgi-bin/ssr", nil, nil); !strings.Contains(r.body, "host=api:8000") {
		t.Errorf("web's server-side call: %q, want api to see Host api:8000", r.body)
	}
	if r := fetch(t, c, "GET", base+"/api/no-such-thing", nil, nil); r.status != 404 {
		t.Errorf("an API 404 passed through as %d %q", r.status, r.body)
	}
	p.stop(t, time.Minute)
	if left := containersOf(t, data); len(left) > 0 {
		t.Errorf("containers left after tandem stopped: %v", left)
	}
}
