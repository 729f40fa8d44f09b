package git

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestResolveRefKinds(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	for _, tt := range []struct{ ref, commit, branch string }{
		{"main", r.main, "main"},
		{"refs/heads/main", r.main, "main"},
		{"heads/main", r.main, "main"},
		{"feature", r.feature, "feature"},
		{"v1", r.first, ""}, // annotated: peeled to its commit
		{"v2", r.first, ""},
		{"refs/tags/v1", r.first, ""},
		{"refs/pull/7/head", r.pr, ""},
		{"pull/7/head", r.pr, ""},
		{r.feature, r.feature, ""},
		{r.feature[:7], r.feature, ""},
	} {
		commit, branch, err := m.Resolve(t.Context(), tt.ref)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", tt.ref, err)
		}
		if commit != tt.commit || branch != tt.branch {
			t.Errorf("Resolve(%q) = %s, %q; want %s, %q", tt.ref, commit, branch, tt.commit, tt.branch)
		}
	}
}

// A mirror holds what its fetches keep up to date, and nothing that would
// go stale while still resolving.
func TestMirrorKeepsFetchedRefsOnly(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	if _, _, err := m.Resolve(t.Context(), "main"); err != nil {
		t.Fatal(err)
	}
	refs := run(t, "", "--git-dir="+m.Dir, "for-each-ref", "--format=%(refname)")
	want := "refs/heads/feature\nrefs/heads/main\nrefs/pull/7/head\nrefs/tags/v1\nrefs/tags/v2"
	if refs != want {
		t.Errorf("mirror refs:\n%s\nwant:\n%s", refs, want)
	}
	_, _, err := m.Resolve(t.Context(), "origin/stale")
	wantCode(t, err, tandem.ENOTFOUND)
}

func TestResolveFetchesUpdates(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	if commit, _, err := m.Resolve(t.Context(), "main"); err != nil || commit != r.main {
		t.Fatalf("Resolve(main) = %s, %v; want %s", commit, err, r.main)
	}
	write(t, filepath.Join(r.dir, "page.txt"), "three\n", 0o644)
	third := r.commit(t, "third")
	run(t, r.dir, "branch", "--quiet", "--delete", "--force", "feature")
	run(t, r.dir, "update-ref", "refs/pull/7/head", third)

	if commit, _, err := m.Resolve(t.Context(), "main"); err != nil || commit != third {
		t.Errorf("after a push, Resolve(main) = %s, %v; want %s", commit, err, third)
	}
	if commit, _, err := m.Resolve(t.Context(), "refs/pull/7/head"); err != nil || commit != third {
		t.Errorf("after a push, Resolve(refs/pull/7/head) = %s, %v; want %s", commit, err, third)
	}
	_, _, err := m.Resolve(t.Context(), "feature")
	wantCode(t, err, tandem.ENOTFOUND) // --prune
}

func TestResolveUnknownRef(t *testing.T) {
	t.Parallel()
	m := newMirror(t, newRepo(t))
	_, _, err := m.Resolve(t.Context(), "no-such-branch")
	wantCode(t, err, tandem.ENOTFOUND)
	if !strings.Contains(err.Error(), "shop") || !strings.Contains(err.Error(), "no-such-branch") {
		t.Errorf("error %q should name the repository and the ref", err)
	}
	_, _, err = m.Resolve(t.Context(), strings.Repeat("ab", 20))
	wantCode(t, err, tandem.ENOTFOUND)

	for _, ref := range []string{"", "main~1", "main^", "HEAD@{1}", "main:page.txt", "--upload-pack=x", "a b", "a..b"} {
		_, _, err := m.Resolve(t.Context(), ref)
		wantCode(t, err, tandem.EINVALID)
	}
}

func TestResolveMissingURL(t *testing.T) {
	t.Parallel()
	url := filepath.Join(t.TempDir(), "gone.git")
	m := NewMirror("shop", url, filepath.Join(t.TempDir(), "repos", "shop.git"))
	_, _, err := m.Resolve(t.Context(), "main")
	wantCode(t, err, tandem.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "shop") || !strings.Contains(err.Error(), url) {
		t.Errorf("error %q should name the repository and its URL", err)
	}
	left, _ := os.ReadDir(filepath.Dir(m.Dir))
	for _, e := range left {
		if e.Name() != "shop.git.lock" {
			t.Errorf("a failed clone left %s", e.Name())
		}
	}
}

// Commits never change: one the mirror has resolves without a fetch, so
// previews at known commits come back while the remote is down.
func TestResolveKnownCommitWithoutFetch(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	if _, _, err := m.Resolve(t.Context(), "main"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(r.dir); err != nil {
		t.Fatal(err)
	}
	if commit, _, err := m.Resolve(t.Context(), r.feature); err != nil || commit != r.feature {
		t.Errorf("Resolve(%s) with the remote gone = %s, %v", r.feature, commit, err)
	}
	_, _, err := m.Resolve(t.Context(), "main")
	wantCode(t, err, tandem.EUNAVAILABLE)
}

func TestRedact(t *testing.T) {
	url := "https://x-access-token:s3cret@github.com/acme/shop.git"
	show := redactor(url)
	got := show("fatal: unable to access '" + url + "/': 403; also x-access-token:s3cret@example")
	if strings.Contains(got, "s3cret") {
		t.Errorf("redacted %q still holds the token", got)
	}
	for _, u := range []string{"git@github.com:acme/shop.git", "ssh://git@github.com/acme/shop.git"} {
		if got := redactor(u)(u); got != u {
			t.Errorf("%s redacted as %s: an SSH user name is not a secret", u, got)
		}
	}
	u := "https://ghp_token@github.com/acme/shop.git"
	if got := redactor(u)(u); strings.Contains(got, "ghp_token") {
		t.Errorf("%s redacted as %s: a token as the user name is a secret", u, got)
	}
}

func TestIsLocal(t *testing.T) {
	for u, want := range map[string]bool{
		"/srv/git/shop.git":            true,
		"shop":                         true,
		"./a:b":                        true,
		"git@github.com:acme/shop.git": false,
		"https://github.com/acme/shop": false,
		"file:///srv/git/shop.git":     false,
	} {
		if isLocal(u) != want {
			t.Errorf("isLocal(%q) = %v", u, !want)
		}
	}
}
