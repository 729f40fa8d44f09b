package main

import (
	"path/filepath"
	"strings"
	"testing"
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
