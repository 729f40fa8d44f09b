package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
)

// gatewayConfig is the file `tandem gateway --config` reads: the gateway on
// its own, in front of services that run elsewhere (production, a benchmark).
type gatewayConfig struct {
	Listen         string        `yaml:"listen"`
	TLS            *tlsConfig    `yaml:"tls"`
	Admin          string        `yaml:"admin"`
	AccessLog      string        `yaml:"access_log"`
	TrustedProxies []string      `yaml:"trusted_proxies"`
	Timeouts       timeoutConfig `yaml:"timeouts"`
	Sites          []siteConfig  `yaml:"sites"`

	file    string
	proxies []netip.Prefix
}

type tlsConfig struct {
	Listen       string `yaml:"listen"`
	Cert         string `yaml:"cert"`
	Key          string `yaml:"key"`
	RedirectHTTP bool   `yaml:"redirect_http"`
}

type timeoutConfig struct {
	Dial           duration `yaml:"dial"`
	ResponseHeader duration `yaml:"response_header"`
	Idle           duration `yaml:"idle"`
}

// siteConfig is one site: the hosts it answers and its routes. Routes name
// "service:port" as in a stack file; upstreams says where a service is
// (an address, or a host whose port the route gives), else the name is
// dialed as it is.
type siteConfig struct {
	Name      string            `yaml:"name"`
	Default   bool              `yaml:"default"`
	Hosts     []string          `yaml:"hosts"`
	Upstreams map[string]string `yaml:"upstreams"`
	Routes    []routeConfig     `yaml:"routes"`
	line      int
}

type routeConfig struct {
	Path        string `yaml:"path"`
	To          string `yaml:"to"`
	StripPrefix bool   `yaml:"strip_prefix"`
	Errors      string `yaml:"errors"`
	ErrorPage   string `yaml:"error_page"`
	line        int
}

type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration (like 10s or 1m30s)", n.Value)
	}
	*d = duration(v)
	return nil
}

// setLines records where each site and route was written, from the file's
// node tree, for messages about them.
func (c *gatewayConfig) setLines(root *yaml.Node) {
	sites := child(root, "sites")
	if sites == nil {
		return
	}
	for i, n := range sites.Content {
		if i >= len(c.Sites) {
			break
		}
		c.Sites[i].line = n.Line
		if routes := child(n, "routes"); routes != nil {
			for j, r := range routes.Content {
				if j < len(c.Sites[i].Routes) {
					c.Sites[i].Routes[j].line = r.Line
				}
			}
		}
	}
}

// child returns the value of key in the mapping n (or in the document n holds).
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// yamlError turns the YAML library's message into "file: line N: what".
func yamlError(file string, err error) error {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(l, "yaml: "))
		if l == "" || strings.HasSuffix(l, "errors:") {
			continue
		}
		lines = append(lines, file+": "+l)
	}
	return &tandem.Error{Code: tandem.EINVALID, Message: strings.Join(lines, "\n")}
}

// readGatewayConfig reads and checks file. Every problem names the file and,
// where it can, the line.
func readGatewayConfig(file string) (*gatewayConfig, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "gateway config: %v", err)
	}
	c := &gatewayConfig{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, yamlError(file, err)
	}
	problems := c.check()
	if len(problems) == 0 {
		return c, nil
	}
	// Lines only matter to problems: the file's node tree is made for them
	// alone (a file of 10,000 sites would pay for it on every reload).
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err == nil {
		c.setLines(&root)
		problems = c.check()
	}
	return nil, &tandem.Error{Code: tandem.EINVALID, Message: strings.Join(problems, "\n")}
}

// check returns the problems of the file, as file:line: message.
func (c *gatewayConfig) check() []string {
	file := c.file
	var problems []string
	fail := func(line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", file, max(line, 1), fmt.Sprintf(format, args...)))
	}
	if c.Listen == "" && c.TLS == nil {
		fail(1, "no listen address: set listen (plain HTTP) or tls.listen")
	}
	if c.TLS != nil && (c.TLS.Listen == "" || c.TLS.Cert == "" || c.TLS.Key == "") {
		fail(1, "tls needs listen, cert and key")
	}
	c.proxies = c.proxies[:0]
	for _, p := range c.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				fail(1, "trusted_proxies: %q is not an address or CIDR", p)
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.proxies = append(c.proxies, pfx)
	}
	names, hosts, defaults := map[string]int{}, map[string]string{}, 0
	for i, s := range c.Sites {
		switch {
		case s.Name == "":
			fail(s.line, "a site needs a name")
		case names[s.Name] != 0:
			fail(s.line, "site %q is already defined at line %d", s.Name, names[s.Name])
		default:
			names[s.Name] = max(s.line, i+1)
		}
		if s.Default {
			defaults++
			if defaults > 1 {
				fail(s.line, "site %q: only one site can be the default", s.Name)
			}
		}
		if !s.Default && len(s.Hosts) == 0 {
			fail(s.line, "site %q answers no host: give it hosts, or make it the default", s.Name)
		}
		for _, h := range s.Hosts {
			key := strings.ToLower(strings.TrimSuffix(h, "."))
			if other, ok := hosts[key]; ok {
				fail(s.line, "site %q: host %q is already answered by site %q", s.Name, h, other)
			}
			hosts[key] = s.Name
		}
		if len(s.Routes) == 0 {
			fail(s.line, "site %q has no routes", s.Name)
		}
		for _, r := range s.Routes {
			if _, err := r.route(); err != nil {
				fail(r.line, "site %q: %v", s.Name, err)
			}
		}
	}
	return problems
}

// route turns a route of the config into the domain's.
func (r routeConfig) route() (tandem.Route, error) {
	if !strings.HasPrefix(r.Path, "/") {
		return tandem.Route{}, fmt.Errorf("route path %q must start with /", r.Path)
	}
	host, port, err := net.SplitHostPort(r.To)
	p, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || p <= 0 || p > 65535 {
		return tandem.Route{}, fmt.Errorf("route %s: to %q must be service:port (or host:port)", r.Path, r.To)
	}
	errs := tandem.ErrorFormat(r.Errors)
	switch errs {
	case "":
		errs = tandem.ErrorsHTML
	case tandem.ErrorsHTML, tandem.ErrorsJSON:
	default:
		return tandem.Route{}, fmt.Errorf("route %s: errors must be html or json, not %q", r.Path, r.Errors)
	}
	return tandem.Route{Path: r.Path, Service: host, Port: p, StripPrefix: r.StripPrefix, Errors: errs, ErrorPage: r.ErrorPage}, nil
}

// dialer returns the dial function of a site: upstreams map service names
// to addresses; other names are dialed as they are.
func dialer(upstreams map[string]string, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if up, ok := upstreams[host]; ok {
			if h, p, err := net.SplitHostPort(up); err == nil {
				host, port = h, p
			} else {
				host = up
			}
		}
		return d.DialContext(ctx, network, net.JoinHostPort(host, port))
	}
}
