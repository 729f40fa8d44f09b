package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
)

// serveConfig is tandem.yaml, what tandem serve reads.
type serveConfig struct {
	Data           string       `yaml:"data"`
	Domain         string       `yaml:"domain"`
	Listen         string       `yaml:"listen"`
	TLS            *tlsConfig   `yaml:"tls"`
	API            string       `yaml:"api"`
	Admin          string       `yaml:"admin"`
	PublicScheme   string       `yaml:"public_scheme"`
	PublicPort     string       `yaml:"public_port"`
	Parallelism    int          `yaml:"parallelism"`
	TTL            duration     `yaml:"ttl"`
	AccessLog      string       `yaml:"access_log"`
	TrustedProxies []string     `yaml:"trusted_proxies"`
	Repos          []repoConfig `yaml:"repos"`

	file    string
	proxies []netip.Prefix
}

type repoConfig struct {
	Name          string `yaml:"name"`
	URL           string `yaml:"url"`
	Compose       string `yaml:"compose"`
	DefaultBranch string `yaml:"default_branch"`
	line          int
}

var (
	repoName   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)
	domainName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
)

// readServeConfig reads and checks tandem.yaml; every problem names the
// file and the line.
func readServeConfig(file string) (*serveConfig, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "server config: %v", err)
	}
	c := &serveConfig{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, yamlError(file, err)
	}
	var root yaml.Node
	yaml.Unmarshal(b, &root)
	line := func(key string) int {
		if n := child(&root, key); n != nil {
			return n.Line
		}
		return 1
	}
	if repos := child(&root, "repos"); repos != nil {
		for i, n := range repos.Content {
			if i < len(c.Repos) {
				c.Repos[i].line = n.Line
			}
		}
	}
	var problems []string
	fail := func(l int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", file, l, fmt.Sprintf(format, args...)))
	}
	if c.Data == "" {
		c.Data = "/var/lib/tandem"
	}
	if !filepath.IsAbs(c.Data) {
		// Relative to the file, so the server does the same from anywhere.
		c.Data = filepath.Join(filepath.Dir(file), c.Data)
	}
	c.Domain = strings.ToLower(strings.TrimSuffix(c.Domain, "."))
	switch {
	case c.Domain == "":
		fail(1, "domain is missing: previews answer at NAME.DOMAIN")
	case !domainName.MatchString(c.Domain):
		fail(line("domain"), "domain %q is not a domain name", c.Domain)
	}
	if c.Listen == "" && c.TLS == nil {
		c.Listen = ":8080"
	}
	if c.TLS != nil && (c.TLS.Listen == "" || c.TLS.Cert == "" || c.TLS.Key == "") {
		fail(line("tls"), "tls needs listen, cert and key")
	}
	if c.API == "" {
		c.API = "127.0.0.1:7070"
	}
	for _, a := range []struct{ key, addr string }{{"listen", c.Listen}, {"api", c.API}, {"admin", c.Admin}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			fail(line(a.key), "%s %q is not host:port (like :8080 or 127.0.0.1:7070)", a.key, a.addr)
		}
	}
	switch c.PublicScheme {
	case "":
		c.PublicScheme = "http"
		if c.TLS != nil {
			c.PublicScheme = "https"
		}
	case "http", "https":
	default:
		fail(line("public_scheme"), "public_scheme must be http or https, not %q", c.PublicScheme)
	}
	if c.PublicPort == "" {
		c.PublicPort = defaultPublicPort(c)
	}
	if c.Parallelism < 0 {
		fail(line("parallelism"), "parallelism must be at least 1")
	}
	if c.TTL < 0 {
		fail(line("ttl"), "ttl must not be negative")
	}
	for _, p := range c.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				fail(line("trusted_proxies"), "trusted_proxies: %q is not an address or CIDR", p)
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.proxies = append(c.proxies, pfx)
	}
	if len(c.Repos) == 0 {
		fail(line("repos"), "no repos: previews are made from registered repositories")
	}
	seen := map[string]int{}
	for _, r := range c.Repos {
		switch {
		case r.Name == "":
			fail(r.line, "a repository needs a name")
		case !repoName.MatchString(r.Name):
			fail(r.line, "repository name %q: letters, digits, dots, dashes and underscores", r.Name)
		case seen[r.Name] != 0:
			fail(r.line, "repository %q is already defined at line %d", r.Name, seen[r.Name])
		default:
			seen[r.Name] = r.line
		}
		if r.URL == "" {
			fail(r.line, "repository %q has no url (a git URL or a local path)", r.Name)
		}
		if r.Compose == "" {
			fail(r.line, "repository %q has no compose (the stack file's path in the repository)", r.Name)
		} else if filepath.IsAbs(r.Compose) || strings.HasPrefix(filepath.Clean(r.Compose), "..") {
			fail(r.line, "repository %q: compose %q must be a path inside the repository", r.Name, r.Compose)
		}
	}
	if len(problems) > 0 {
		return nil, &tandem.Error{Code: tandem.EINVALID, Message: strings.Join(problems, "\n")}
	}
	for i := range c.Repos {
		if c.Repos[i].DefaultBranch == "" {
			c.Repos[i].DefaultBranch = "main"
		}
		// A local path is relative to the file, like data.
		if u := c.Repos[i].URL; !strings.Contains(u, "://") && !strings.Contains(u, "@") && !filepath.IsAbs(u) {
			c.Repos[i].URL = filepath.Join(filepath.Dir(file), u)
		}
	}
	return c, nil
}

// defaultPublicPort is the port browsers reach previews on when the file
// does not say: the gateway's, unless it is the scheme's own.
func defaultPublicPort(c *serveConfig) string {
	addr := c.Listen
	if c.PublicScheme == "https" && c.TLS != nil {
		addr = c.TLS.Listen
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || (c.PublicScheme == "http" && port == "80") || (c.PublicScheme == "https" && port == "443") {
		return ""
	}
	return port
}

// socket is where tandem serve also answers its API, for the CLI on the
// same machine.
func (c *serveConfig) socket() string { return filepath.Join(c.Data, "api.sock") }

// ttl is the default TTL.
func (c *serveConfig) ttl() time.Duration { return time.Duration(c.TTL) }
