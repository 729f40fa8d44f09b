package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkSeedPattern is the seed article's frontend pattern under
// tandem serve: NEXT_PUBLIC_API_URL is https://${PREVIEW_HOST}/api, read
// as the literal process.env.NEXT_PUBLIC_API_URL, which next build inlines.
// A second preview of the same commit, and a preview of a commit that
// changed only backend files, must take the first one's build with their
// own host in it, not build again. Part of make bench-previews; run it
// once: -benchtime 1x.
func BenchmarkSeedPattern(b *testing.B) {
	needRoot(b)
	for range b.N {
		benchSeedPattern(b)
	}
}

func benchSeedPattern(b *testing.B) {
	repo := exampleRepo(b)
	seedPatternBranches(b, repo)
	s := newColdServer(b, repo)
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	say("seed-pattern benchmark, %s, %s", time.Now().Format("2006-01-02"), machine())
	create := func(name, ref string) time.Duration {
		began := time.Now()
		code, events := s.cli("create", name, "--repo", "shop", "--ref", ref, "--json")
		if code != 0 {
			b.Fatalf("create %s: %d\n%s", name, code, events)
		}
		took := time.Since(began)
		if name != "sp-1" && !strings.Contains(events, "web: build cached") {
			b.Errorf("%s built web again:\n%s", name, events)
		}
		// The page says where the browser calls the API: the value next
		// build inlined, this preview's own.
		want := fmt.Sprintf("The browser calls https://%s.previews.example.com/api/search/", name)
		if r := s.get(name, "/", nil); r.status != 200 || !strings.Contains(r.body, want) {
			b.Fatalf("%s's page (%d) does not say %q", name, r.status, want)
		}
		return took
	}
	cold := create("sp-1", "seed-pattern")
	say("create cold: %.1f s", cold.Seconds())
	warm := create("sp-2", "seed-pattern")
	say("create, the same commit at another host: %.1f s", warm.Seconds())
	backend := create("sp-3", "seed-pattern-backend")
	say("create, a commit that changed only backend files: %.1f s", backend.Seconds())
	say("")
	line := func(name string, v time.Duration) {
		verdict := "met"
		if v > 5*time.Second {
			verdict = "MISSED"
		}
		say("%s: %.2f  target <= 5  %s", name, v.Seconds(), verdict)
	}
	line("seed-pattern warm create s", warm)
	line("seed-pattern backend-only change create s", backend)
}

// seedPatternBranches adds two branches to the example's repository:
// seed-pattern, whose frontend inlines NEXT_PUBLIC_API_URL as the preview
// article writes it, and seed-pattern-backend, the same with a change to
// a backend file only.
func seedPatternBranches(b testing.TB, repo string) {
	edit := func(rel, old, new string) {
		file := filepath.Join(repo, rel)
		text := string(must(os.ReadFile(file)))
		if !strings.Contains(text, old) {
			b.Fatalf("%s has no %q", rel, old)
		}
		os.WriteFile(file, []byte(strings.Replace(text, old, new, 1)), 0o644)
	}
	git := func(args ...string) { gitIn(b, repo, args...) }
	git("checkout", "-q", "-b", "seed-pattern")
	edit("docker-compose.yml", "NEXT_PUBLIC_API_URL: /api ", "NEXT_PUBLIC_API_URL: https://${PREVIEW_HOST}/api ")
	edit("frontend/lib/api.js", "return (env.NEXT_PUBLIC_API_URL || '/api')", "return (process.env.NEXT_PUBLIC_API_URL || '/api')")
	git("commit", "-q", "-am", "the API's public URL as the preview article writes it")
	git("checkout", "-q", "-b", "seed-pattern-backend")
	edit("backend/catalog/views.py", "\n", "\n# A change to the backend only.\n")
	git("commit", "-q", "-am", "a backend change")
	git("checkout", "-q", "main")
}
