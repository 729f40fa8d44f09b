package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem/git"
	"github.com/tandem-dev/tandem/preview"
)

// tandem.yaml's forges: each problem at its line, credentials only by
// reference, and a webhook secret required.
func TestForgeConfigRefuses(t *testing.T) {
	const shop = "  - {name: shop, url: /srv/shop.git, compose: c.yml, forge: {name: gitea, project: acme/shop}}\n"
	for _, tc := range []struct{ name, file, want string }{
		{"no webhook secret", "domain: p.example.com\nforges:\n  - {name: gitea, type: gitea, url: http://git, token: {env: T}}\nrepos:\n" + shop,
			`tandem.yaml:3: forge "gitea" needs webhook_secret ({file: PATH} or {env: NAME}): unsigned webhooks are refused`},
		{"no token", "domain: p.example.com\nforges:\n  - {name: gitea, type: gitea, url: http://git, webhook_secret: {env: S}}\nrepos:\n" + shop,
			`tandem.yaml:3: forge "gitea" needs a token`},
		{"unknown type", "domain: p.example.com\nforges:\n  - {name: gitea, type: bitbucket, url: http://git, token: {env: T}, webhook_secret: {env: S}}\nrepos:\n" + shop,
			`tandem.yaml:3: forge "gitea": type must be github, gitlab or gitea, not "bitbucket"`},
		{"a secret written in the file", "domain: p.example.com\nforges:\n  - {name: gitea, type: gitea, url: http://git, token: hunter2, webhook_secret: {env: S}}\nrepos:\n" + shop,
			`line 3: a secret is given as {file: PATH} or {env: NAME}, never written in this file`},
		{"unknown forge", "domain: p.example.com\nrepos:\n" + shop,
			`tandem.yaml:3: repository "shop": forge "gitea" is not in forges`},
		{"service from nowhere", "domain: p.example.com\nrepos:\n  - {name: shop, url: /srv/shop.git, compose: c.yml, services: {api: {repo: backend}}}\n",
			`tandem.yaml:3: repository "shop": service api comes from "backend", which is not another registered repository`},
		{"no compose and supplies nothing", "domain: p.example.com\nrepos:\n  - {name: backend, url: /srv/backend.git}\n",
			`tandem.yaml:3: repository "backend" has no compose`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := serveConfigFile(t, tc.file)
			_, err := readServeConfig(file)
			if err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "tandem.yaml", file, 1)) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// Credentials are read from files and the environment when the server
// starts; a repository that names its forge fetches with them, and gets
// its services and secrets.
func TestForgeConfigLoads(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "hook-secret"), "s3cret\n")
	writeFile(t, filepath.Join(dir, "stripe"), "sk_test_1\n")
	t.Setenv("TEST_GITEA_TOKEN", "gitea-token")
	file := filepath.Join(dir, "tandem.yaml")
	writeFile(t, file, `domain: p.example.com
forges:
  - {name: gitea, type: gitea, url: "http://127.0.0.1:3000", user: bot, token: {env: TEST_GITEA_TOKEN}, webhook_secret: {file: hook-secret}}
repos:
  - name: shop
    url: http://127.0.0.1:3000/acme/shop.git
    compose: c.yml
    forge: {name: gitea, project: acme/shop, labels: [preview], fork_secrets: true}
    services: {api: {repo: backend, path: server}}
    secrets: {STRIPE_KEY: {file: stripe}}
  - name: backend
    url: http://127.0.0.1:3000/acme/backend.git
    forge: {name: gitea, project: acme/backend, clone: false}
`)
	cfg, err := readServeConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadForges(cfg); err != nil {
		t.Fatal(err)
	}
	repos := map[string]preview.Repo{}
	for _, r := range cfg.Repos {
		pr, err := withForge(cfg, r, preview.Repo{Name: r.Name, Source: git.NewMirror(r.Name, r.URL, filepath.Join(dir, r.Name+".git"))})
		if err != nil {
			t.Fatal(err)
		}
		repos[r.Name] = pr
	}
	shop, backend := repos["shop"], repos["backend"]
	if shop.Env["STRIPE_KEY"] != "sk_test_1" || !shop.ForkEnv || shop.Services["api"] != (preview.ServiceSource{Repo: "backend", Path: "server"}) || shop.PRRef != "refs/pull/%d/head" {
		t.Errorf("shop: %+v", shop)
	}
	creds := shop.Source.(*git.Mirror).Credentials
	if creds == nil {
		t.Fatal("shop fetches without the forge's credentials")
	}
	if h, _ := creds(context.Background()); h != "Basic Ym90OmdpdGVhLXRva2Vu" { // bot:gitea-token
		t.Errorf("git's header: %q", h)
	}
	if backend.Source.(*git.Mirror).Credentials != nil {
		t.Error("clone: false still fetches with credentials")
	}
	svc := newForgeService(cfg, nil, nil, nil, nil)
	if svc == nil || cfg.forgeClient("gitea") == nil || cfg.forgeClient("gitea").Kind() != "gitea" {
		t.Error("no gitea client")
	}
	t.Setenv("TEST_GITEA_TOKEN", "")
	if err := loadForges(cfg); err == nil || !strings.Contains(err.Error(), "$TEST_GITEA_TOKEN is not set") {
		t.Errorf("a missing token: %v", err)
	}
}
