package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func serveConfigFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tandem.yaml")
	writeFile(t, path, body)
	return path
}

const repos = `repos:
  - name: shop
    url: /srv/git/shop.git
    compose: docker-compose.yml
`

// What reaches git's command line must not read as an option, and every
// listener needs a port of its own that a server can bind.
func TestServeCheckRefuses(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"option as url", "domain: p.example.com\nrepos:\n  - name: shop\n    url: --upload-pack=touch /tmp/pwned\n    compose: c.yml\n",
			`tandem.yaml:3: repository "shop": url "--upload-pack=touch /tmp/pwned" starts with "-": git would read it as an option`},
		{"ext transport", "domain: p.example.com\nrepos:\n  - {name: shop, url: 'ext::sh -c id', compose: c.yml}\n",
			`tandem.yaml:3: repository "shop": url "ext::sh -c id": the ext:: transport runs commands`},
		{"option as branch", "domain: p.example.com\nrepos:\n  - {name: shop, url: /srv/shop.git, compose: c.yml, default_branch: --orphan}\n",
			`tandem.yaml:3: repository "shop": default_branch "--orphan" is not a branch name`},
		{"compose outside", "domain: p.example.com\nrepos:\n  - {name: shop, url: /srv/shop.git, compose: ../c.yml}\n",
			`tandem.yaml:3: repository "shop": compose "../c.yml" must be a path inside the repository`},
		{"port 0", "domain: p.example.com\nlisten: \":0\"\n" + repos, `tandem.yaml:2: listen ":0": the port must be from 1 to 65535`},
		{"port too large", "domain: p.example.com\napi: 127.0.0.1:70000\n" + repos, `tandem.yaml:2: api "127.0.0.1:70000": the port must be from 1 to 65535`},
		{"port by name", "domain: p.example.com\nadmin: 127.0.0.1:http\n" + repos, `tandem.yaml:2: admin "127.0.0.1:http": the port must be a number`},
		{"one port twice", "domain: p.example.com\nlisten: :8080\napi: 127.0.0.1:8080\n" + repos, `tandem.yaml:3: api "127.0.0.1:8080": listen already listens on ":8080"`},
		{"tls on the plain port", "domain: p.example.com\nlisten: :8443\ntls: {listen: \":8443\", cert: c, key: k}\n" + repos, `tandem.yaml:3: tls.listen ":8443": listen already listens on ":8443"`},
		{"public port", "domain: p.example.com\npublic_port: \"0\"\n" + repos, `tandem.yaml:2: public_port "0": the port must be from 1 to 65535`},
		{"memory", "domain: p.example.com\nlimits:\n  memory: lots\n" + repos, `tandem.yaml:3: limits: memory "lots" is not a size, like 2g or 512m`},
		{"tiny memory", "domain: p.example.com\nlimits: {memory: 1k}\n" + repos, `tandem.yaml:2: limits: memory "1k" is below 6m, too little to start anything`},
		{"cpus", "domain: p.example.com\nlimits:\n  cpus: -1\n" + repos, `tandem.yaml:3: limits: cpus "-1" is not a number of CPUs, like 1.5`},
		{"pids", "domain: p.example.com\nlimits:\n  pids: many\n" + repos, `tandem.yaml:3: limits: pids "many" is not a number of processes`},
		{"cache size", "domain: p.example.com\ncache:\n  max_size: big\n" + repos, `tandem.yaml:3: cache: max_size "big" is not a size, like 20g or 500m (0: no limit)`},
		{"sleep_after", "domain: p.example.com\nsleep_after: 10ms\n" + repos, `sleep_after "10ms": a duration of a second or more (like 30m), or off`},
		{"runtime", "domain: p.example.com\nruntime: podman\n" + repos, `tandem.yaml:2: runtime "podman": choose process, docker, kubernetes or auto`},
		{"kubernetes storage", "domain: p.example.com\nruntime: kubernetes\nkubernetes:\n  storage: nfs\n" + repos, `tandem.yaml:4: kubernetes.storage "nfs": choose node`},
		{"kubernetes claim size", "domain: p.example.com\nruntime: kubernetes\nkubernetes:\n  storage: claim\n  claim_size: big\n" + repos, `tandem.yaml:5: kubernetes.claim_size "big" is not a size`},
		{"kubernetes dial", "domain: p.example.com\nruntime: kubernetes\nkubernetes:\n  kubeconfig: /k\n  dial: tunnel\n" + repos, `tandem.yaml:5: kubernetes.dial "tunnel": choose pod-ip`},
		{"repository's sleep_after", "domain: p.example.com\nrepos:\n  - {name: shop, url: /srv/shop.git, compose: c.yml, sleep_after: soon}\n", `sleep_after "soon": a duration of a second or more (like 30m), or off`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := serveConfigFile(t, tc.file)
			_, err := readServeConfig(file)
			if err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "tandem.yaml", file, 1)) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
			// --check says the same.
			code, out := run(t, "serve", "--check", "--config", file)
			if code != 1 || !strings.Contains(out, strings.Replace(tc.want, "tandem.yaml", file, 1)) {
				t.Errorf("--check: %d %s", code, out)
			}
		})
	}
}

func TestServeLimits(t *testing.T) {
	cfg, err := readServeConfig(serveConfigFile(t, "domain: p.example.com\n"+repos))
	if err != nil || cfg.limits != defaultLimits {
		t.Errorf("default: %+v %v", cfg.limits, err)
	}
	cfg, err = readServeConfig(serveConfigFile(t, "domain: p.example.com\nlimits: {memory: 512m, cpus: 0.5, pids: 128}\n"+repos))
	if want := (tandem.Limits{Memory: 512 << 20, CPUs: 0.5, Pids: 128}); err != nil || cfg.limits != want {
		t.Errorf("set: %+v %v, want %+v", cfg.limits, err, want)
	}
	cfg, err = readServeConfig(serveConfigFile(t, "domain: p.example.com\nlimits: {memory: 0, cpus: 0, pids: 0}\n"+repos))
	if err != nil || !cfg.limits.IsZero() {
		t.Errorf("none: %+v %v", cfg.limits, err)
	}
	file := serveConfigFile(t, "domain: p.example.com\nlimits: {memory: 2g}\n"+repos)
	if code, out := run(t, "serve", "--check", "--config", file); code != 0 || !strings.Contains(out, "each limited to 2048 MiB of memory, 1.5 CPUs, 512 processes") {
		t.Errorf("--check: %d %s", code, out)
	}
}

// sleep_after is the server's, a repository's own, or off; the caches are
// bounded unless cache.max_size says 0.
func TestServeSleepAndCacheConfig(t *testing.T) {
	cfg, err := readServeConfig(serveConfigFile(t, "domain: p.example.com\nsleep_after: 10m\ncache: {max_size: 500m}\n"+repos+
		"  - {name: docs, url: /srv/docs.git, compose: c.yml, sleep_after: \"off\"}\n  - {name: api, url: /srv/api.git, compose: c.yml, sleep_after: 1h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.SleepAfter) != 10*time.Minute || cfg.Cache.limit != 500<<20 {
		t.Errorf("sleep_after %v, cache limit %d", time.Duration(cfg.SleepAfter), cfg.Cache.limit)
	}
	got := map[string]time.Duration{}
	for _, r := range cfg.Repos {
		got[r.Name] = time.Duration(r.SleepAfter)
	}
	if got["shop"] != 0 || got["docs"] >= 0 || got["api"] != time.Hour {
		t.Errorf("repositories' sleep_after: %v", got)
	}
	cfg, err = readServeConfig(serveConfigFile(t, "domain: p.example.com\n"+repos))
	if err != nil || cfg.SleepAfter != 0 || cfg.Cache.limit != defaultCacheLimit {
		t.Errorf("defaults: %v %v", cfg, err)
	}
}
