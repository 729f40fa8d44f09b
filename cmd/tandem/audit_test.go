package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/sqlite"
)

// auditData makes a data directory whose log holds a review of pr-7 and
// the creation of pr-8, as tandem serve and the review steps write them.
func auditDataDir(t *testing.T) (data string, l *audit.Log) {
	t.Helper()
	data = t.TempDir()
	store, err := sqlite.Open(filepath.Join(data, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if l, err = openAuditLog(context.Background(), data, "previews.example.com", store); err != nil {
		t.Fatal(err)
	}
	shot, err := audit.EvidenceDirIn(data).Put(strings.NewReader("\x89PNG not really"), "screenshot of /", "image/png", 0)
	if err != nil {
		t.Fatal(err)
	}
	b := tandem.Binding{Repo: "shop", Commit: strings.Repeat("ab", 20), StackDigest: "sha256:" + strings.Repeat("1", 64), Builds: map[string]string{"web": strings.Repeat("2", 64)}}
	now := time.Now().UTC()
	for _, e := range []tandem.AuditEvent{
		{Kind: tandem.AuditPreviewCreated, Binding: b, Detail: "shop at main"},
		{Kind: tandem.AuditEvidenceAdded, Binding: b, Actor: "bob@example.com", Evidence: []tandem.Evidence{shot}},
		{Kind: tandem.AuditSigned, Binding: b, Actor: "bob@example.com", Signature: &tandem.Signature{
			PrintedName: "Bob Reviewer", Identity: "bob@example.com", Meaning: tandem.MeaningApproved, Time: now, Reauth: "totp", ReauthAt: now}},
		{Kind: tandem.AuditPreviewCreated, Preview: "pr-8", Binding: b},
	} {
		if e.Preview == "" {
			e.Preview = "pr-7"
		}
		if e.Actor == "" {
			e.Actor = "tandem"
		}
		e.Repo, e.Generation = "shop", 1
		if _, err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return data, l
}

// tandem audit export writes a bundle from the data directory; tandem
// audit verify checks it, prints its entries, and names a tampered entry.
func TestAuditExportAndVerify(t *testing.T) {
	data, l := auditDataDir(t)
	earlier, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(t.TempDir(), "checkpoint")
	writeFile(t, kept, string(earlier))
	if _, err := l.Append(context.Background(), tandem.AuditEvent{Kind: tandem.AuditPreviewDestroyed, Repo: "shop", Preview: "pr-7", Actor: "tandem"}); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(data, audit.PublicKeyFile)

	out := filepath.Join(t.TempDir(), "pr-7.tar.gz")
	code, stdout := run(t, "audit", "export", "--data", data, "--preview", "pr-7", "-o", out)
	if code != 0 || !strings.Contains(stdout, "4 entries") {
		t.Fatalf("export: %d\n%s", code, stdout)
	}
	code, stdout = run(t, "audit", "verify", out, "--key", key, "--checkpoint", kept)
	if code != 0 {
		t.Fatalf("verify: %d\n%s", code, stdout)
	}
	for _, want := range []string{"verifies", "previews.example.com/audit", "preview pr-7: 4 entries, 1 evidence files",
		"the log extends the earlier checkpoint", "approved by Bob Reviewer", "preview.destroyed", "abababababab"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("verify's output lacks %q:\n%s", want, stdout)
		}
	}
	// Without --key it says what that proves.
	if _, stdout := run(t, "audit", "verify", out); !strings.Contains(stdout, "give the key you trust with --key") {
		t.Errorf("verify without a key:\n%s", stdout)
	}

	// A directory bundle with one byte of an entry changed.
	dir := filepath.Join(t.TempDir(), "bundle")
	if code, out := run(t, "audit", "export", "--data", data, "--preview", "pr-7", "--out", dir); code != 0 {
		t.Fatalf("export: %s", out)
	}
	entry := filepath.Join(dir, "entries", "00000002.dsse.json")
	b, _ := os.ReadFile(entry)
	b[len(b)/2] ^= 1
	os.WriteFile(entry, b, 0o600)
	code, stdout = run(t, "audit", "verify", dir, "--key", key)
	if code != 1 || !strings.Contains(stdout, "does not verify: entry 2 (entries/00000002.dsse.json): altered") {
		t.Errorf("verify of a tampered bundle: %d\n%s", code, stdout)
	}
	code, stdout = run(t, "audit", "verify", dir, "--key", key, "--json")
	var v struct {
		Verified bool
		Failure  audit.Failure
	}
	if err := json.Unmarshal([]byte(stdout), &v); code != 1 || err != nil || v.Verified || v.Failure.How != audit.Altered {
		t.Errorf("verify --json: %d %v\n%s", code, err, stdout)
	}
}

// An export to a path that exists, or of a directory without a log, is
// refused and writes nothing.
func TestAuditExportRefusals(t *testing.T) {
	data, _ := auditDataDir(t)
	taken := t.TempDir()
	if code, out := run(t, "audit", "export", "--data", data, "--out", taken); code == 0 || !strings.Contains(out, "exists") {
		t.Errorf("export over a directory: %d %s", code, out)
	}
	empty := t.TempDir()
	if code, out := run(t, "audit", "export", "--data", empty, "--out", filepath.Join(empty, "b")); code == 0 || !strings.Contains(out, "no state database") {
		t.Errorf("export of an empty directory: %d %s", code, out)
	}
	if code, out := run(t, "audit", "export", "--data", data, "--since", "last week", "--out", filepath.Join(t.TempDir(), "b")); code == 0 || !strings.Contains(out, "--since") {
		t.Errorf("a bad --since: %d %s", code, out)
	}
}

// auditRepo is a repository whose stack serves a built page, with no
// database: quick to bring up, and a build digest to bind to.
func auditRepo(t *testing.T) (dir string, commits []string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "site")
	writeFile(t, filepath.Join(dir, "docker-compose.yml"), `x-tandem:
  routes:
    - { path: /, to: web:8000 }
services:
  web:
    build: ./web
    command: ["/usr/bin/python3", "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", "out"]
    expose: ["8000"]
    x-tandem:
      build: mkdir -p out && cp index.html out/
`)
	git := func(args ...string) string {
		t.Helper()
		return gitIn(t, dir, args...)
	}
	git("init", "-q", "-b", "main")
	for _, page := range []string{"<h1>one</h1>\n", "<h1>two</h1>\n"} {
		writeFile(t, filepath.Join(dir, "web", "index.html"), page)
		git("add", "-A")
		git("commit", "-q", "-m", page)
		commits = append(commits, git("rev-parse", "HEAD"))
	}
	git("branch", "first", commits[0])
	return dir, commits
}

// Under tandem serve, a preview's generations and its end go into the log,
// bound to the commit and build they ran; the checkpoint and key are
// public; an auditor's earlier checkpoint is extended by the later bundle.
func TestAuditServeRecordsPreviews(t *testing.T) {
	needRoot(t)
	repo, commits := auditRepo(t)
	s := newServer(t, repo)
	get := func(path string) (int, []byte) {
		resp, err := http.Get(s.api + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, out := s.cli("create", "pr-7", "--repo", "shop", "--ref", "first"); code != 0 {
		t.Fatalf("create: %s", out)
	}
	code, earlier := get("/v1/audit/checkpoint") // no token: it is public
	if code != 200 || !bytes.HasPrefix(earlier, []byte("previews.example.com/audit\n1\n")) {
		t.Fatalf("checkpoint: %d %s", code, earlier)
	}
	if code, _ := get("/v1/previews"); code != http.StatusUnauthorized {
		t.Errorf("/v1/previews without a token: %d", code)
	}
	_, key := get("/v1/audit/key")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "earlier"), string(earlier))
	writeFile(t, filepath.Join(dir, "key"), string(key))

	if code, out := s.cli("create", "pr-7", "--repo", "shop", "--ref", "main"); code != 0 {
		t.Fatalf("update: %s", out)
	}
	if code, out := s.cli("destroy", "pr-7"); code != 0 {
		t.Fatalf("destroy: %s", out)
	}
	bundle := filepath.Join(dir, "pr-7.tar.gz")
	if code, out := run(t, "audit", "export", "--config", filepath.Join(s.dir, "tandem.yaml"), "--preview", "pr-7", "-o", bundle); code != 0 {
		t.Fatalf("export: %s", out)
	}
	code, out := run(t, "audit", "verify", bundle, "--key", filepath.Join(dir, "key"), "--checkpoint", filepath.Join(dir, "earlier"), "--json")
	var v struct {
		Entries []struct {
			audit.Predicate
			Index int64
		}
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
		t.Fatalf("verify: %d %v\n%s", code, err, out)
	}
	var kinds []string
	for _, e := range v.Entries {
		kinds = append(kinds, string(e.Kind))
	}
	if strings.Join(kinds, " ") != "preview.created preview.updated preview.destroyed" {
		t.Fatalf("entries %v", kinds)
	}
	for i, want := range []string{commits[0], commits[1], commits[1]} {
		b := v.Entries[i].Binding
		if b.Commit != want || b.Repo != "shop" || !strings.HasPrefix(b.StackDigest, "sha256:") || len(b.Builds["web"]) != 64 {
			t.Errorf("entry %d binds %+v, want commit %s and its build", i, b, want)
		}
	}
}
