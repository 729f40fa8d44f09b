package main

import (
	"context"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
)

// accessConfig is tandem.yaml's access: what holds for every repository.
// (A repository's own access and grants are in its entry.)
type accessConfig struct {
	Grants []grantConfig `yaml:"grants"`
}

// grantConfig gives a role to one person (email), an email domain or an
// SSO group: exactly one of the three.
type grantConfig struct {
	Role   string `yaml:"role"`
	Email  string `yaml:"email"`
	Domain string `yaml:"domain"`
	Group  string `yaml:"group"`
	line   int
}

// checkAccess checks the access keys, at every level, and keeps the grants
// they give for ReplaceConfigGrants.
func (c *serveConfig) checkAccess(fail failFunc) {
	if c.Access != nil {
		c.checkGrants(fail, tandem.AllRepos, c.Access.Grants, c.node("access", "grants"))
	}
	for i := range c.Repos {
		r := &c.Repos[i]
		if _, err := tandem.ParsePreviewAccess(r.Access); err != nil {
			fail(r.line, "repository %q: access must be private or public, not %q", r.Name, r.Access)
		}
		if r.Access == "" {
			r.Access = string(tandem.AccessPrivate)
		}
		var grants *yaml.Node
		if repos := c.node("repos"); repos != nil && i < len(repos.Content) {
			grants = child(repos.Content[i], "grants")
		}
		c.checkGrants(fail, r.Name, r.Grants, grants)
	}
}

// checkGrants checks the grants of repo, list written at node.
func (c *serveConfig) checkGrants(fail failFunc, repo string, list []grantConfig, node *yaml.Node) {
	where := "access.grants"
	if repo != tandem.AllRepos {
		where = fmt.Sprintf("repository %q: grants", repo)
	}
	for i, g := range list {
		line := c.line("access")
		if node != nil && i < len(node.Content) {
			line = node.Content[i].Line
		}
		role, err := tandem.ParseRole(g.Role)
		if err != nil {
			fail(line, "%s: role %q: want viewer, reviewer, approver or admin", where, g.Role)
		}
		n := 0
		for _, s := range []string{g.Email, g.Domain, g.Group} {
			if s != "" {
				n++
			}
		}
		switch {
		case n != 1:
			fail(line, "%s: a grant names exactly one of email, domain and group", where)
		case g.Email != "" && (!strings.Contains(g.Email, "@") || strings.ContainsAny(g.Email, " \t")):
			fail(line, "%s: email %q is not an email address", where, g.Email)
		case g.Domain != "" && !domainName.MatchString(strings.ToLower(strings.TrimPrefix(g.Domain, "@"))):
			fail(line, "%s: domain %q is not a domain name (like corp.example)", where, g.Domain)
		case err == nil:
			c.grants = append(c.grants, tandem.Grant{Repo: repo, Role: role, Email: g.Email, Domain: g.Domain, Group: g.Group, Source: "config"})
		}
	}
}

// loadGrants makes the grants of tandem.yaml the store's "config" grants,
// and records what changed since the last start as events.
func loadGrants(ctx context.Context, store tandem.AccessStore, file string, grants []tandem.Grant) error {
	before, err := store.Grants(ctx)
	if err != nil {
		return err
	}
	if err := store.ReplaceConfigGrants(ctx, grants); err != nil {
		return err
	}
	after, err := store.Grants(ctx)
	if err != nil {
		return err
	}
	was, is := configGrants(before), configGrants(after)
	for key, g := range is {
		if _, ok := was[key]; !ok {
			if err := grantEvent(ctx, store, "grant.added", file, g); err != nil {
				return err
			}
		}
	}
	for key, g := range was {
		if _, ok := is[key]; !ok {
			if err := grantEvent(ctx, store, "grant.removed", file, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// configGrants are the "config" grants of list, by what they give.
func configGrants(list []tandem.Grant) map[string]tandem.Grant {
	m := map[string]tandem.Grant{}
	for _, g := range list {
		if g.Source == "config" {
			m[g.String()] = g
		}
	}
	return m
}

func grantEvent(ctx context.Context, store tandem.AccessStore, kind, file string, g tandem.Grant) error {
	_, err := store.AddAccessEvent(ctx, tandem.AccessEvent{Kind: kind, Actor: file, Repo: g.Repo,
		Subject: fmt.Sprint(g.ID), Detail: g.String() + " (tandem.yaml)"})
	return err
}

// loginVerificationURL is where `tandem login` sends people to approve a
// login: the device page of the auth host, auth.DOMAIN.
func (c *serveConfig) loginVerificationURL() string {
	host := c.authHost()
	if c.PublicPort != "" {
		host += ":" + c.PublicPort
	}
	return c.PublicScheme + "://" + host + tandem.DeviceVerificationPath
}
