package check

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/tandem-dev/tandem"
)

// proxyImages are the reverse proxies whose job tandem's gateway does, by
// the last part of the image's repository name.
var proxyImages = map[string]string{
	"nginx": "nginx", "nginx-unprivileged": "nginx", "caddy": "Caddy", "traefik": "Traefik", "haproxy": "HAProxy",
}

// proxies warns about an enabled reverse-proxy service: under tandem the
// gateway takes its place, so it should not run too, and its routing
// belongs in x-tandem.routes. A route to the service itself means tandem
// fronts it on purpose, and is left alone.
func (c *checker) proxies() {
	for _, svc := range c.st.Services {
		kind := proxyImages[imageName(svc.Image)]
		if kind == "" || c.routedTo(svc.Name) {
			continue
		}
		msg := fmt.Sprintf("service %q runs %s, whose job tandem's gateway does", svc.Name, kind)
		if len(c.st.Routes) == 0 {
			msg += ", and the stack has no x-tandem.routes: those are what it lacks"
		}
		if confs := c.nginxConfigs(svc); kind == "nginx" && len(confs) > 0 {
			msg += "; convert its config with " + joinList(confs, "and") + " and paste the output into the Compose file"
		} else {
			msg += "; write its routing as x-tandem.routes"
		}
		msg += "; put the service under a profile (profiles: [docker]) so docker compose still runs it and tandem does not"
		c.warnf(c.st.PosOf("services."+svc.Name+".image"), "%s", msg)
	}
}

// imageName is the last part of an image's repository name, without
// registry, tag or digest: "docker.io/library/nginx:1.27" → "nginx".
func imageName(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	image = image[strings.LastIndexByte(image, '/')+1:]
	if i := strings.IndexByte(image, ':'); i >= 0 {
		image = image[:i]
	}
	return strings.ToLower(image)
}

func (c *checker) routedTo(name string) bool {
	for _, r := range c.st.Routes {
		if r.Service == name {
			return true
		}
	}
	return false
}

// nginxConfigs returns the commands that convert the nginx configs the
// service mounts: a bind mount whose target ends in .conf or lies under
// /etc/nginx (a directory of them, then, its .conf files).
func (c *checker) nginxConfigs(svc *tandem.Service) []string {
	var cmds []string
	for _, m := range svc.Mounts {
		target := filepath.ToSlash(filepath.Clean(m.Target))
		if m.Type != "bind" || !(strings.HasSuffix(target, ".conf") || target == "/etc/nginx" || strings.HasPrefix(target, "/etc/nginx/")) {
			continue
		}
		fi, err := os.Stat(m.Source)
		switch {
		case err != nil || fi.Mode().IsRegular():
			// A file, or one not there yet: name it all the same.
			cmds = append(cmds, c.routesCommand(m.Source))
		case fi.IsDir():
			names, _ := filepath.Glob(filepath.Join(m.Source, "*.conf"))
			sort.Strings(names)
			for _, n := range names {
				cmds = append(cmds, c.routesCommand(n))
			}
		}
	}
	return cmds
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./+=@%-]+$`)

// routesCommand is the command that converts the config in file, run from
// the project directory: "tandem routes --from-nginx ./nginx.conf".
func (c *checker) routesCommand(file string) string {
	if rel, err := filepath.Rel(c.st.Dir, file); err == nil && !strings.HasPrefix(rel, "..") {
		file = "./" + filepath.ToSlash(rel)
	}
	if !shellSafe.MatchString(file) {
		file = "'" + strings.ReplaceAll(file, "'", `'\''`) + "'"
	}
	return "`tandem routes --from-nginx " + file + "`"
}
