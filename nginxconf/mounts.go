package nginxconf

import (
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tandem-dev/tandem"
)

// Mounting returns the service that bind-mounts file (itself, or a
// directory holding it) into its container: the nginx service whose config
// it is. nil if none does.
func Mounting(services []*tandem.Service, file string) *tandem.Service {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil
	}
	abs = realPath(abs)
	for _, svc := range services {
		for _, m := range svc.Mounts {
			if m.Type != "bind" {
				continue
			}
			src := realPath(m.Source)
			if abs == src || strings.HasPrefix(abs, src+string(filepath.Separator)) {
				return svc
			}
		}
	}
	return nil
}

func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// MountResolver returns an Options.ErrorPage that finds a file of a
// container through the container's bind mounts: the regular file of the
// host it is, relative to dir (the project directory) when it is inside it.
func MountResolver(mounts []tandem.Mount, dir string) func(string) (string, bool) {
	return func(p string) (string, bool) {
		p = path.Clean("/" + p)
		best, rest := -1, ""
		for i, m := range mounts {
			if m.Type != "bind" || m.Source == "" {
				continue
			}
			target := path.Clean("/" + m.Target)
			r, ok := under(p, target)
			if ok && (best < 0 || len(target) > len(path.Clean("/"+mounts[best].Target))) {
				best, rest = i, r
			}
		}
		if best < 0 {
			return "", false
		}
		host := filepath.Join(mounts[best].Source, filepath.FromSlash(rest))
		if fi, err := os.Stat(host); err != nil || !fi.Mode().IsRegular() {
			return "", false
		}
		if rel, err := filepath.Rel(dir, host); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel), true
		}
		return host, true
	}
}

// under reports whether p is dir or inside it, and what is left of p.
func under(p, dir string) (string, bool) {
	if p == dir {
		return "", true
	}
	if dir == "/" {
		return p, true
	}
	if strings.HasPrefix(p, dir+"/") {
		return p[len(dir):], true
	}
	return "", false
}
