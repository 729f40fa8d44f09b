package main

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/sqlite"
)

const accessYAML = `domain: previews.example.com
access:
  grants:
    - { role: viewer, domain: corp.example }
    - { role: admin, email: alice@corp.example }
repos:
  - name: shop
    url: /srv/git/shop.git
    compose: docker-compose.yml
    access: public
    grants:
      - { role: approver, group: qa-leads }
  - name: blog
    url: /srv/git/blog.git
    compose: docker-compose.yml
`

func TestServeAccessConfig(t *testing.T) {
	cfg, err := readServeConfig(serveConfigFile(t, accessYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := []tandem.Grant{
		{Repo: "*", Role: "viewer", Domain: "corp.example", Source: "config"},
		{Repo: "*", Role: "admin", Email: "alice@corp.example", Source: "config"},
		{Repo: "shop", Role: "approver", Group: "qa-leads", Source: "config"},
	}
	if !reflect.DeepEqual(cfg.grants, want) {
		t.Errorf("grants:\n got %v\nwant %v", cfg.grants, want)
	}
	if cfg.Repos[0].Access != "public" || cfg.Repos[1].Access != "private" {
		t.Errorf("access: %q %q", cfg.Repos[0].Access, cfg.Repos[1].Access)
	}
	if got := cfg.loginVerificationURL(); got != "http://auth.previews.example.com:8080/device" {
		t.Errorf("verification URL %s", got)
	}
}

// Every problem of the access keys names its line; --check says the same.
func TestServeAccessConfigRefuses(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"role", "role: viewer, domain", "role: owner, domain", `tandem.yaml:4: access.grants: role "owner": want viewer, reviewer, approver or admin`},
		{"two at once", "admin, email: alice@corp.example", "admin, email: alice@corp.example, group: x", `tandem.yaml:5: access.grants: a grant names exactly one of email, domain and group`},
		{"none", "{ role: approver, group: qa-leads }", "{ role: approver }", `tandem.yaml:12: repository "shop": grants: a grant names exactly one of email, domain and group`},
		{"email", "email: alice@corp.example", "email: alice", `tandem.yaml:5: access.grants: email "alice" is not an email address`},
		{"domain", "domain: corp.example", "domain: https://corp.example", `tandem.yaml:4: access.grants: domain "https://corp.example" is not a domain name (like corp.example)`},
		{"access", "access: public", "access: open", `tandem.yaml:7: repository "shop": access must be private or public, not "open"`},
		{"unknown key", "group: qa-leads", "grup: qa-leads", `field grup not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(accessYAML, tc.from) {
				t.Fatalf("the fixture lacks %q", tc.from)
			}
			file := serveConfigFile(t, strings.Replace(accessYAML, tc.from, tc.to, 1))
			want := strings.Replace(tc.want, "tandem.yaml", file, 1)
			if _, err := readServeConfig(file); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v\nwant %s", err, want)
			}
			if code, out := run(t, "serve", "--check", "--config", file); code != 1 || !strings.Contains(out, want) {
				t.Errorf("--check: %d %s", code, out)
			}
		})
	}
}

// tandem.yaml's grants replace the last start's, and each change is an
// event; a start that changes nothing records nothing.
func TestServeAccessGrantsLoad(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := t.Context()
	api, _ := store.AddGrant(ctx, tandem.Grant{Repo: "blog", Role: "viewer", Email: "bob@corp.example"})
	first := []tandem.Grant{{Repo: "*", Role: "viewer", Domain: "corp.example"}, {Repo: "shop", Role: "admin", Email: "alice@corp.example"}}
	second := []tandem.Grant{{Repo: "*", Role: "viewer", Domain: "corp.example"}, {Repo: "shop", Role: "admin", Email: "carol@corp.example"}}
	for _, grants := range [][]tandem.Grant{first, first, second} {
		if err := loadGrants(ctx, store, "/etc/tandem/tandem.yaml", grants); err != nil {
			t.Fatal(err)
		}
	}
	events, _ := store.AccessEvents(ctx, 0, 0)
	var got []string
	for _, e := range events {
		got = append(got, e.Kind+" "+e.Detail)
		if e.Actor != "/etc/tandem/tandem.yaml" {
			t.Errorf("actor %q", e.Actor)
		}
	}
	slices.Sort(got[:2])
	want := []string{
		"grant.added admin in shop to email alice@corp.example (tandem.yaml)",
		"grant.added viewer in * to domain corp.example (tandem.yaml)",
		"grant.added admin in shop to email carol@corp.example (tandem.yaml)",
		"grant.removed admin in shop to email alice@corp.example (tandem.yaml)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s", strings.Join(got, "\n"))
	}
	if grants, _ := store.Grants(ctx); len(grants) != 3 || !slices.Contains(grants, api) {
		t.Errorf("grants: %v", grants)
	}
}
