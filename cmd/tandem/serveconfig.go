package main

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/git"
	"github.com/tandem-dev/tandem/httpapi"
)

// serveConfig is tandem.yaml, what tandem serve reads.
type serveConfig struct {
	Data           string        `yaml:"data"`
	Domain         string        `yaml:"domain"`
	Listen         string        `yaml:"listen"`
	TLS            *tlsConfig    `yaml:"tls"`
	API            string        `yaml:"api"`
	Admin          string        `yaml:"admin"`
	Auth           *authConfig   `yaml:"auth"` // the sign-in host (authconfig.go)
	SMTP           *smtpConfig   `yaml:"smtp"`
	PublicScheme   string        `yaml:"public_scheme"`
	PublicPort     string        `yaml:"public_port"`
	Parallelism    int           `yaml:"parallelism"`
	TTL            duration      `yaml:"ttl"`
	AccessLog      string        `yaml:"access_log"`
	TrustedProxies []string      `yaml:"trusted_proxies"`
	Limits         *limitsConfig `yaml:"limits"`
	Access         *accessConfig `yaml:"access"`
	Repos          []repoConfig  `yaml:"repos"`
	Review         *reviewConfig `yaml:"review"` // review.go
	Forges         []forgeConfig `yaml:"forges"` // serveforge.go
	Dashboard      *dashConfig   `yaml:"dashboard"`
	SleepAfter     idleTime      `yaml:"sleep_after"` // servewake.go
	Cache          *cacheConfig  `yaml:"cache"`       // cache.go
	Runtime        string        `yaml:"runtime"`     // process, docker, kubernetes or auto (runtime.go)
	Kubernetes     *kubeConfig   `yaml:"kubernetes"`  // for runtime: kubernetes

	file    string
	root    yaml.Node
	proxies []netip.Prefix
	limits  tandem.Limits
	grants  []tandem.Grant // of access and the repositories' grants
}

type repoConfig struct {
	Name          string        `yaml:"name"`
	URL           string        `yaml:"url"`
	Compose       string        `yaml:"compose"`
	DefaultBranch string        `yaml:"default_branch"`
	Access        string        `yaml:"access"` // private (default) or public
	Grants        []grantConfig `yaml:"grants"`
	// Forge, Services and Secrets: serveforge.go.
	Forge    *repoForgeConfig               `yaml:"forge"`
	Services map[string]serviceSourceConfig `yaml:"services"`
	Secrets  map[string]secretRef           `yaml:"secrets"`
	// SleepAfter overrides the server's sleep_after (servewake.go).
	SleepAfter idleTime `yaml:"sleep_after"`
	line       int
}

// limitsConfig is what one preview's instance may use at most, all its
// services together, written as Compose writes mem_limit, cpus and
// pids_limit. "0" means no limit of that kind.
type limitsConfig struct {
	Memory string `yaml:"memory"`
	CPUs   string `yaml:"cpus"`
	Pids   string `yaml:"pids"`
}

// defaultLimits bound each instance when tandem.yaml does not say: a
// preview runs a pull request's code, which must not starve the machine.
var defaultLimits = tandem.Limits{Memory: 2 << 30, CPUs: 1.5, Pids: 512}

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
	yaml.Unmarshal(b, &c.root)
	if repos := c.node("repos"); repos != nil {
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
	c.defaults()
	c.checkSite(fail)
	c.checkAddresses(fail)
	c.checkLimits(fail)
	c.checkRepos(fail)
	c.checkAccess(fail)
	c.checkReview(fail)
	c.checkForges(fail)
	c.checkDashboard(fail)
	c.checkCache(fail)
	c.checkRuntime(fail)
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

// node returns the node at a path of keys, or nil.
func (c *serveConfig) node(keys ...string) *yaml.Node {
	n := &c.root
	for _, k := range keys {
		if n = child(n, k); n == nil {
			return nil
		}
	}
	return n
}

// line is where a path of keys was written, or the closest parent that was.
func (c *serveConfig) line(keys ...string) int {
	for i := len(keys); i > 0; i-- {
		if n := c.node(keys[:i]...); n != nil {
			return n.Line
		}
	}
	return 1
}

// defaults fills in what the file leaves out.
func (c *serveConfig) defaults() {
	if c.Data == "" {
		c.Data = "/var/lib/tandem"
	}
	if !filepath.IsAbs(c.Data) {
		// Relative to the file, so the server does the same from anywhere.
		c.Data = filepath.Join(filepath.Dir(c.file), c.Data)
	}
	c.Domain = strings.ToLower(strings.TrimSuffix(c.Domain, "."))
	if c.Listen == "" && c.TLS == nil {
		c.Listen = ":8080"
	}
	if c.API == "" {
		c.API = "127.0.0.1:7070"
	}
	if c.PublicScheme == "" {
		c.PublicScheme = "http"
		if c.TLS != nil {
			c.PublicScheme = "https"
		}
	}
	if c.PublicPort == "" {
		c.PublicPort = defaultPublicPort(c)
	}
}

type failFunc func(line int, format string, args ...any)

// checkRuntime checks what previews run on; unsaid, auto.
func (c *serveConfig) checkRuntime(fail failFunc) {
	switch c.Runtime {
	case "":
		c.Runtime = runtimeAuto
	case runtimeAuto, runtimeProcess, runtimeDocker, runtimeKubernetes:
	default:
		fail(c.line("runtime"), "runtime %q: choose process, docker, kubernetes or auto", c.Runtime)
	}
	if k := c.Kubernetes; k != nil {
		switch k.Dial {
		case "", "pod-ip", "port-forward":
		default:
			fail(c.line("kubernetes", "dial"), "kubernetes.dial %q: choose pod-ip (tandem runs in the cluster or on its node) or port-forward (through the API server)", k.Dial)
		}
		switch k.Storage {
		case "", "node", "claim":
		default:
			fail(c.line("kubernetes", "storage"), "kubernetes.storage %q: choose node (the instance's directory on tandem's node) or claim (a PersistentVolumeClaim per database)", k.Storage)
		}
		if k.ClaimSize != "" && !claimSize.MatchString(k.ClaimSize) {
			fail(c.line("kubernetes", "claim_size"), "kubernetes.claim_size %q is not a size, like 1Gi or 500Mi", k.ClaimSize)
		}
	}
}

// claimSize is a Kubernetes quantity of bytes, as claims are sized (checked
// here without the kubernetes runtime's packages, which a tandem built
// without it lacks).
var claimSize = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$`)

// kubeConfig is tandem.yaml's kubernetes: the cluster runtime: kubernetes
// runs previews on. Both empty: in-cluster configuration when tandem runs
// in a pod, else $KUBECONFIG or ~/.kube/config.
type kubeConfig struct {
	Kubeconfig string `yaml:"kubeconfig"` // a kubeconfig file
	Context    string `yaml:"context"`    // its context; "" for its current one
	// Dial is how the gateway reaches pods: pod-ip (default: at their
	// addresses) or port-forward (through the API server, from anywhere).
	Dial string `yaml:"dial"`
	// Storage is where postgres services keep their data: node (default:
	// the instance's directory on tandem's node) or claim (a
	// PersistentVolumeClaim of StorageClass, ClaimSize; what tandem in a
	// pod needs).
	Storage      string `yaml:"storage"`
	StorageClass string `yaml:"storage_class"`
	ClaimSize    string `yaml:"claim_size"`
}

// checkSite checks what previews are served as.
func (c *serveConfig) checkSite(fail failFunc) {
	switch {
	case c.Domain == "":
		fail(1, "domain is missing: previews answer at NAME.DOMAIN")
	case !domainName.MatchString(c.Domain):
		fail(c.line("domain"), "domain %q is not a domain name", c.Domain)
	}
	if c.TLS != nil && (c.TLS.Listen == "" || c.TLS.Cert == "" || c.TLS.Key == "") {
		fail(c.line("tls"), "tls needs listen, cert and key")
	}
	if c.PublicScheme != "http" && c.PublicScheme != "https" {
		fail(c.line("public_scheme"), "public_scheme must be http or https, not %q", c.PublicScheme)
	}
	if c.PublicPort != "" {
		if _, err := portNumber(c.PublicPort); err != nil {
			fail(c.line("public_port"), "public_port %q: %v", c.PublicPort, err)
		}
	}
	if c.Parallelism < 0 {
		fail(c.line("parallelism"), "parallelism must be at least 1")
	}
	if c.TTL < 0 {
		fail(c.line("ttl"), "ttl must not be negative")
	}
	for _, p := range c.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				fail(c.line("trusted_proxies"), "trusted_proxies: %q is not an address or CIDR", p)
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.proxies = append(c.proxies, pfx)
	}
	c.checkAuth(fail)
}

// checkAddresses checks that every listener has an address it can bind,
// on a port of its own: a server's port 0 would be one nobody can find.
func (c *serveConfig) checkAddresses(fail failFunc) {
	type listener struct {
		keys       []string
		addr       string
		host, port string
	}
	all := []listener{{keys: []string{"listen"}, addr: c.Listen}, {keys: []string{"api"}, addr: c.API}, {keys: []string{"admin"}, addr: c.Admin}}
	if c.TLS != nil {
		all = append(all, listener{keys: []string{"tls", "listen"}, addr: c.TLS.Listen})
	}
	var bound []listener
	for _, l := range all {
		if l.addr == "" {
			continue
		}
		name, line := strings.Join(l.keys, "."), c.line(l.keys...)
		host, port, err := net.SplitHostPort(l.addr)
		if err != nil {
			fail(line, "%s %q is not host:port (like :8080 or 127.0.0.1:7070)", name, l.addr)
			continue
		}
		if _, err := portNumber(port); err != nil {
			fail(line, "%s %q: %v", name, l.addr, err)
			continue
		}
		l.host, l.port = host, port
		for _, b := range bound {
			if b.port == l.port && (b.host == l.host || wildcard(b.host) || wildcard(l.host)) {
				fail(line, "%s %q: %s already listens on %q", name, l.addr, strings.Join(b.keys, "."), b.addr)
			}
		}
		bound = append(bound, l)
	}
}

// portNumber parses a port a server listens on: 1 to 65535.
func portNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("the port must be a number")
	case n < 1 || n > 65535:
		return 0, fmt.Errorf("the port must be from 1 to 65535")
	}
	return n, nil
}

func wildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::" || host == "[::]"
}

// checkLimits reads limits, or takes the defaults.
func (c *serveConfig) checkLimits(fail failFunc) {
	c.limits = defaultLimits
	if c.Limits == nil {
		return
	}
	if s := c.Limits.Memory; s != "" {
		var b types.UnitBytes
		switch err := b.DecodeMapstructure(s); {
		case err != nil || b < 0:
			fail(c.line("limits", "memory"), "limits: memory %q is not a size, like 2g or 512m", s)
		case b > 0 && b < 6<<20:
			fail(c.line("limits", "memory"), "limits: memory %q is below 6m, too little to start anything", s)
		default:
			c.limits.Memory = int64(b)
		}
	}
	if s := c.Limits.CPUs; s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || !(n >= 0) || math.IsInf(n, 0) {
			fail(c.line("limits", "cpus"), "limits: cpus %q is not a number of CPUs, like 1.5", s)
		} else {
			c.limits.CPUs = n
		}
	}
	if s := c.Limits.Pids; s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			fail(c.line("limits", "pids"), "limits: pids %q is not a number of processes", s)
		} else {
			c.limits.Pids = n
		}
	}
}

// checkRepos checks the registered repositories. What reaches git's
// command line must not read as an option.
func (c *serveConfig) checkRepos(fail failFunc) {
	if len(c.Repos) == 0 {
		fail(c.line("repos"), "no repos: previews are made from registered repositories")
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
		} else if err := git.CheckURL(r.URL); err != nil {
			fail(r.line, "repository %q: url %v", r.Name, err)
		}
		if b := r.DefaultBranch; b != "" && !git.ValidRef(b) {
			fail(r.line, "repository %q: default_branch %q is not a branch name", r.Name, b)
		}
		if r.Compose == "" && !c.suppliesServices(r.Name) {
			fail(r.line, "repository %q has no compose (the stack file's path in the repository)", r.Name)
		} else if r.Compose != "" && (filepath.IsAbs(r.Compose) || !filepath.IsLocal(r.Compose)) {
			fail(r.line, "repository %q: compose %q must be a path inside the repository", r.Name, r.Compose)
		}
	}
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

// tokenFile is where tandem serve keeps the token its TCP API asks for.
func (c *serveConfig) tokenFile() string { return filepath.Join(c.Data, httpapi.TokenFile) }

// repoNames are the registered repositories' names.
func (c *serveConfig) repoNames() []string {
	names := make([]string, len(c.Repos))
	for i, r := range c.Repos {
		names[i] = r.Name
	}
	return names
}

// ttl is the default TTL.
func (c *serveConfig) ttl() time.Duration { return time.Duration(c.TTL) }
