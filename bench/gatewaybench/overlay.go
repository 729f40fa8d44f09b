package main

import (
	"bytes"
	_ "embed"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed overlay/route.js
var proxyRoute []byte

// routeFile is where the overlay puts the Next.js proxy route.
const routeFile = "frontend/app/api/[...path]/route.js"

// nextConfig wraps the example's own next.config.mjs (copied beside it):
// Next.js would answer /api/search/ with a 308 to /api/search, and Django's
// URLs end with a slash, so the route must see the path as the browser sent
// it. An app that adds the proxy route has to do the same.
const nextConfig = `import base from './next.config.example.mjs';

export default { ...base, skipTrailingSlashRedirect: true };
`

// outputDirs are what builds and runs leave in the example; never copied.
var outputDirs = map[string]bool{"node_modules": true, ".next": true, ".tandem": true, "__pycache__": true}

// syncOverlay makes dst a copy of the example src plus the proxy route and
// its Next.js setting,
// touching only files that differ, so the frontend's build in dst is reused.
// dst sits in a gitignored folder, where tandem's build cannot see which of
// its inputs changed; so when a frontend file changes we remove .next, and
// the build runs again.
func syncOverlay(src, dst string) (changed []string, err error) {
	want := map[string][]byte{routeFile: proxyRoute}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if outputDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		if rel == "frontend/next.config.mjs" {
			want["frontend/next.config.example.mjs"] = b
			b = []byte(nextConfig)
		}
		want[rel] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	for rel, b := range want {
		p := filepath.Join(dst, filepath.FromSlash(rel))
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, b) {
			continue
		}
		mode := os.FileMode(0o644)
		if fi, err := os.Stat(filepath.Join(src, filepath.FromSlash(rel))); err == nil {
			mode = fi.Mode().Perm() // keep bin/api-entrypoint.sh executable
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			return nil, err
		}
		if err := os.Chmod(p, mode); err != nil {
			return nil, err
		}
		changed = append(changed, rel)
	}
	// Files the example no longer has.
	err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if outputDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dst, p)
		if _, ok := want[filepath.ToSlash(rel)]; !ok {
			changed = append(changed, filepath.ToSlash(rel))
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, rel := range changed {
		if strings.HasPrefix(rel, "frontend/") {
			return changed, os.RemoveAll(filepath.Join(dst, "frontend", ".next"))
		}
	}
	return changed, nil
}
