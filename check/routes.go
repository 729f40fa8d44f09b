package check

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tandem-dev/tandem"
)

func (c *checker) routes() {
	first := map[string]int{} // route path → index of its first route
	for i, r := range c.st.Routes {
		c.target(i, r)
		if j, ok := first[r.Path]; ok {
			c.errorf(c.routePos(i, ""), "route %q is already defined at %s", r.Path, at(c.routePos(j, ""), c.routePos(i, "")))
		} else {
			first[r.Path] = i
		}
		c.errorPage(i, r)
	}
	c.slashTwins(first)
}

// target checks that the route leads to a service that runs and listens on
// the route's port.
func (c *checker) target(i int, r tandem.Route) {
	pos := c.routePos(i, "to")
	svc := c.st.Service(r.Service)
	if svc == nil {
		if slices.Contains(c.st.Disabled, r.Service) {
			c.errorf(pos, "%s", disabledMessage(r.Service, c.st.Profiles[r.Service]))
			return
		}
		var names []string
		for _, s := range c.st.Services {
			names = append(names, s.Name)
		}
		msg := "route to unknown service %q"
		if len(names) > 0 {
			msg += " (services: " + strings.Join(names, ", ") + ")"
		}
		c.errorf(pos, msg, r.Service)
		return
	}
	if len(svc.Ports) > 0 && !svc.ListensOn(r.Port) {
		ports := make([]string, len(svc.Ports))
		for k, p := range svc.Ports {
			ports[k] = strconv.Itoa(p)
		}
		c.errorf(pos, "service %q does not listen on port %d: the file says it listens on %s", r.Service, r.Port, joinList(ports, "and"))
	}
}

func disabledMessage(name string, profiles []string) string {
	if len(profiles) == 0 {
		return "service \"" + name + "\" is not enabled by the active profiles"
	}
	word := "profile"
	if len(profiles) > 1 {
		word = "profiles"
	}
	return "service \"" + name + "\" is only enabled with " + word + " " + quoteList(profiles, "or")
}

// slashTwins warns about "/api" next to "/api/": the router keeps them
// apart, so "/api" receives only "/api" itself and paths like "/apix",
// which is rarely what was meant.
func (c *checker) slashTwins(first map[string]int) {
	for i, r := range c.st.Routes {
		if first[r.Path] != i || !strings.HasSuffix(r.Path, "/") || r.Path == "/" {
			continue
		}
		bare := strings.TrimSuffix(r.Path, "/")
		j, ok := first[bare]
		if !ok {
			continue
		}
		later, earlier := max(i, j), min(i, j)
		pos := c.routePos(later, "")
		c.warnf(pos, "routes %q and %q (%s) differ only by a trailing slash: %q receives only %q itself and paths like %q",
			c.st.Routes[later].Path, c.st.Routes[earlier].Path, at(c.routePos(earlier, ""), pos), bare, bare, bare+"x")
	}
}

// errorPage checks that the route's error page is a file.
func (c *checker) errorPage(i int, r tandem.Route) {
	if r.ErrorPage == "" {
		return
	}
	name := r.ErrorPage
	if rel, err := filepath.Rel(c.st.Dir, name); err == nil && !strings.HasPrefix(rel, "..") {
		name = rel
	}
	fi, err := os.Stat(r.ErrorPage)
	switch {
	case err != nil && os.IsNotExist(err):
		c.errorf(c.routePos(i, "error_page"), "error page %q does not exist", name)
	case err != nil:
		c.errorf(c.routePos(i, "error_page"), "error page %q: %v", name, err)
	case fi.IsDir():
		c.errorf(c.routePos(i, "error_page"), "error page %q is a directory", name)
	}
}
