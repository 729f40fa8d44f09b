package audit

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit/audittest"
)

const testOrigin = "previews.example.com/audit"

// testLog is a log in a fresh data directory. Its store is in memory: the
// SQLite store runs the same suite, and this log over it, in package sqlite.
type testLog struct {
	*Log
	data  string
	store tandem.AuditStore
	evid  EvidenceDir
}

func newTestLog(t testing.TB) *testLog {
	t.Helper()
	return openTestLog(t, t.TempDir())
}

func openTestLog(t testing.TB, data string) *testLog {
	t.Helper()
	key, err := EnsureKey(data, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	store := audittest.NewMemStore()
	l, err := Open(context.Background(), store, key)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{Log: l, data: data, store: store, evid: EvidenceDirIn(data)}
}

func (l *testLog) append(t testing.TB, e tandem.AuditEvent) tandem.AuditEntry {
	t.Helper()
	entry, err := l.Append(context.Background(), e)
	if err != nil {
		t.Fatalf("append %s: %v", e.Kind, err)
	}
	return entry
}

// export writes a bundle of opts to a new path called name and returns it.
func (l *testLog) export(t testing.TB, name string, opts ExportOptions) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	if opts.Evidence == "" {
		opts.Evidence = l.evid
	}
	if _, warnings, err := l.Export(context.Background(), out, opts); err != nil || len(warnings) > 0 {
		t.Fatalf("export: %v %v", err, warnings)
	}
	return out
}

func (l *testLog) pubKey(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.data, PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	commitA = strings.Repeat("a1", 20)
	commitB = strings.Repeat("b2", 20)
	bindA   = tandem.Binding{Repo: "shop", Commit: commitA, StackDigest: "sha256:" + strings.Repeat("5", 64),
		Builds: map[string]string{"api": strings.Repeat("6", 64), "web": strings.Repeat("7", 64)}, SnapshotKey: strings.Repeat("8", 32)}
	bindB = tandem.Binding{Repo: "shop", Commit: commitB, StackDigest: "sha256:" + strings.Repeat("9", 64),
		Builds: map[string]string{"api": strings.Repeat("6", 64), "web": strings.Repeat("c", 64)}, SnapshotKey: strings.Repeat("8", 32)}
)

// screenshot is a real PNG: a 40x30 image with a bar across it.
func screenshot(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		for y := range 30 {
			c := color.RGBA{255, 255, 255, 255}
			if y > 10 && y < 20 {
				c = color.RGBA{20, 90, 200, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// review appends what a review of two generations of pr-7 writes, and a
// second preview's creation, and returns the entries in order.
func (l *testLog) review(t testing.TB) []tandem.AuditEntry {
	t.Helper()
	shot, err := l.evid.Put(bytes.NewReader(screenshot(t)), "screenshot of / at 1280x800", "image/png", 0)
	if err != nil {
		t.Fatal(err)
	}
	report, err := l.evid.Put(strings.NewReader("ok 12 tests\n"), "test report", "text/plain", 0)
	if err != nil {
		t.Fatal(err)
	}
	signed := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ev := func(kind tandem.AuditKind, gen int, b tandem.Binding) tandem.AuditEvent {
		return tandem.AuditEvent{Kind: kind, Repo: "shop", Preview: "pr-7", Generation: gen, Binding: b, Actor: "tandem"}
	}
	var out []tandem.AuditEntry
	add := func(e tandem.AuditEvent) { out = append(out, l.append(t, e)) }

	e := ev(tandem.AuditPreviewCreated, 1, bindA)
	e.Detail = "shop at refs/pull/7/head"
	add(e)
	e = ev(tandem.AuditAccessGranted, 1, bindA)
	e.Actor, e.Access = "alice@example.com", &tandem.AuditAccess{Person: "bob@example.com", Via: "share-link"}
	add(e)
	e = ev(tandem.AuditFirstVisit, 1, bindA)
	e.Actor = "bob@example.com"
	add(e)
	e = ev(tandem.AuditEvidenceAdded, 1, bindA)
	e.Actor, e.Evidence = "bob@example.com", []tandem.Evidence{shot, report}
	add(e)
	e = ev(tandem.AuditChecklistResult, 1, bindA)
	e.Actor, e.Checklist, e.Evidence = "bob@example.com", &tandem.AuditChecklist{Item: "home", Text: "The home page lists articles", Result: "pass"}, []tandem.Evidence{shot}
	add(e)
	e = ev(tandem.AuditSigned, 1, bindA)
	e.Actor = "bob@example.com"
	e.Signature = &tandem.Signature{PrintedName: "Bob Reviewer", Identity: "bob@example.com", Meaning: tandem.MeaningApproved,
		Time: signed, Stage: "qa", Reauth: "oidc", ReauthAt: signed.Add(-20 * time.Second)}
	add(e)
	e = ev(tandem.AuditPreviewUpdated, 2, bindB)
	e.Detail = "shop at refs/pull/7/head"
	add(e)
	e = ev(tandem.AuditSigned, 2, bindB)
	e.Actor = "carol@example.com"
	e.Signature = &tandem.Signature{PrintedName: "Carol Compliance", Identity: "carol@example.com", Meaning: tandem.MeaningRejected,
		Time: signed.Add(time.Hour), Stage: "compliance", Reauth: "totp", ReauthAt: signed.Add(time.Hour - time.Minute), Comment: "missing the audit note"}
	add(e)
	e = tandem.AuditEvent{Kind: tandem.AuditPreviewCreated, Repo: "shop", Preview: "pr-8", Generation: 1, Binding: bindA, Actor: "tandem"}
	add(e)
	add(ev(tandem.AuditPreviewDestroyed, 2, bindB))
	return out
}

// failure returns err as a *Failure, failing the test if it is not one.
func failure(t testing.TB, err error) *Failure {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("verify: %v, want a *Failure", err)
	}
	return f
}

// copyDir copies a bundle directory to a new temporary one.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "bundle")
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
