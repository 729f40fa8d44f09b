package netns

import (
	"net"
	"slices"

	"github.com/tandem-dev/tandem"
)

// Target checks "service:port" against the services of instance (knows)
// and returns what to dial inside its namespace: every service of an
// instance binds the namespace's loopback, which has IPv4 only.
func Target(network, addr, instance string, knows func(host string) bool) (dialNetwork, loopback, port string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", "", tandem.Errorf(tandem.EINVALID, "dial %q: %w", addr, err)
	}
	if !knows(host) {
		return "", "", "", tandem.Errorf(tandem.ENOTFOUND, "dial %q: no service %q in %s", addr, host, instance)
	}
	if network == "tcp" || network == "tcp6" {
		network = "tcp4"
	}
	return network, net.JoinHostPort("127.0.0.1", port), port, nil
}

// Knows is the knows of Target for an instance of services: its service
// names, and also (a runtime whose services share loopback adds
// "localhost").
func Knows(services []string, also ...string) func(host string) bool {
	return func(host string) bool {
		return slices.Contains(services, host) || slices.Contains(also, host)
	}
}
