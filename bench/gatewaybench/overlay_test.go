package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSyncOverlay(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write := func(dir, rel, s string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(src, "frontend/app/page.js", "page")
	write(src, "frontend/next.config.mjs", "export default {};")
	write(src, "frontend/node_modules/x/index.js", "dependency")
	write(src, "backend/manage.py", "django")

	if _, err := syncOverlay(src, dst); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{
		routeFile:                          string(proxyRoute),
		"frontend/next.config.mjs":         nextConfig,
		"frontend/next.config.example.mjs": "export default {};",
		"backend/manage.py":                "django",
	} {
		if b, err := os.ReadFile(filepath.Join(dst, rel)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", rel, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "frontend/node_modules")); !os.IsNotExist(err) {
		t.Errorf("node_modules copied: %v", err)
	}

	// A build left .next; a backend change keeps it, a frontend change drops it.
	write(dst, "frontend/.next/BUILD_ID", "1")
	write(src, "backend/manage.py", "django 2")
	write(dst, "backend/stale.py", "gone from the example")
	changed, err := syncOverlay(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(changed)
	if want := []string{"backend/manage.py", "backend/stale.py"}; !slices.Equal(changed, want) {
		t.Errorf("changed %v, want %v", changed, want)
	}
	if _, err := os.Stat(filepath.Join(dst, "frontend/.next/BUILD_ID")); err != nil {
		t.Errorf("a backend change removed .next: %v", err)
	}
	write(src, "frontend/app/page.js", "page 2")
	if _, err := syncOverlay(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "frontend/.next")); !os.IsNotExist(err) {
		t.Errorf("a frontend change kept .next: %v", err)
	}
}
