package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/defenseunicorns/go-oscal/src/pkg/validation"

	"github.com/tandem-dev/tandem"
)

// An export verifies, as a directory and as a .tar.gz, with the key given
// and with the bundle's own; it holds exactly the entries appended for the
// preview, byte for byte, and their evidence.
func TestExportThenVerify(t *testing.T) {
	l := newTestLog(t)
	entries := l.review(t)
	var pr7 []tandem.AuditEntry
	for _, e := range entries {
		if e.Index != 8 { // pr-8's
			pr7 = append(pr7, e)
		}
	}
	for _, name := range []string{"pr-7", "pr-7.tar.gz"} {
		out := l.export(t, name, ExportOptions{Preview: "pr-7"})
		for _, key := range [][]byte{l.pubKey(t), l.PublicKey().PEM(), nil} {
			v, err := Verify(out, VerifyOptions{Key: key})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if v.KeyFromBundle != (key == nil) || v.Origin != testOrigin || v.Evidence != 2 || v.Manifest.Selection.Complete {
				t.Errorf("%s: %+v", name, v)
			}
			if len(v.Entries) != len(pr7) {
				t.Fatalf("%s: %d entries, want %d", name, len(v.Entries), len(pr7))
			}
			for i, e := range v.Entries {
				if e.Index != pr7[i].Index || !bytes.Equal(e.Envelope, pr7[i].Envelope) {
					t.Errorf("%s: entry %d is not what was appended", name, i)
				}
			}
		}
	}
	// Everything, by repository, and since a time.
	all := l.export(t, "all", ExportOptions{})
	if v, err := Verify(all, VerifyOptions{Key: l.pubKey(t)}); err != nil || len(v.Entries) != len(entries) || !v.Manifest.Selection.Complete {
		t.Fatalf("everything: %v", err)
	}
	since := l.export(t, "since", ExportOptions{Repo: "shop", Since: entries[6].Time})
	if v, err := Verify(since, VerifyOptions{Key: l.pubKey(t)}); err != nil || len(v.Entries) != 4 || v.Entries[0].Index != 6 {
		t.Fatalf("since: %v %+v", err, v)
	}
}

// The bundle's report shows signers, meanings, times and commits, and
// its screenshot is the PNG that was kept.
func TestReportShowsTheSignatures(t *testing.T) {
	l := newTestLog(t)
	l.review(t)
	out := l.export(t, "b", ExportOptions{Preview: "pr-7"})
	html, err := os.ReadFile(filepath.Join(out, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Bob Reviewer", "Carol Compliance", "approved", "rejected", "2026-11-26 10:00:00 UTC",
		commitA[:12], commitB[:12], "totp", "The home page lists articles", `<img class="evidence"`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	shots, _ := filepath.Glob(filepath.Join(out, "evidence", "sha256", "*"))
	decoded := 0
	for _, s := range shots {
		b, _ := os.ReadFile(s)
		if img, err := png.Decode(bytes.NewReader(b)); err == nil && img.Bounds().Dx() == 40 {
			decoded++
		}
	}
	if len(shots) != 2 || decoded != 1 {
		t.Errorf("%d evidence files, %d PNGs", len(shots), decoded)
	}
}

// The OSCAL assessment results validate against the OSCAL 1.1.3 schema
// with go-oscal's validator, and carry one observation per entry.
func TestOSCALValidates(t *testing.T) {
	l := newTestLog(t)
	l.review(t)
	for _, opts := range []ExportOptions{{Preview: "pr-7"}, {}, {Preview: "pr-99"}} {
		out := l.export(t, "b", opts)
		doc, err := os.ReadFile(filepath.Join(out, OSCALFile))
		if err != nil {
			t.Fatal(err)
		}
		v, err := validation.NewValidator(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(); err != nil {
			res, _ := v.GetValidationResult()
			t.Fatalf("%+v: %v\n%+v", opts, err, res.Errors)
		}
		var parsed struct {
			AR struct {
				ImportAp struct{ Href string } `json:"import-ap"`
				Results  []struct {
					Observations []struct{ UUID string }
				}
			} `json:"assessment-results"`
		}
		json.Unmarshal(doc, &parsed)
		n := 0
		for _, r := range parsed.AR.Results {
			n += len(r.Observations)
		}
		want := map[string]int{"pr-7": 9, "": 10, "pr-99": 0}[opts.Preview]
		if n != want || !strings.HasPrefix(parsed.AR.ImportAp.Href, "#") {
			t.Errorf("%+v: %d observations, want %d; import-ap %q", opts, n, want, parsed.AR.ImportAp.Href)
		}
	}
}

// Each way of tampering with a bundle fails verification, naming the
// first part that does not verify and how.
func TestVerifyNamesWhatWasTamperedWith(t *testing.T) {
	l := newTestLog(t)
	l.review(t)
	older, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l.append(t, tandem.AuditEvent{Kind: tandem.AuditPreviewCreated, Repo: "shop", Preview: "pr-9", Actor: "tandem"})
	orig := l.export(t, "bundle", ExportOptions{Preview: "pr-7"})
	entry := func(i int) string { return filepath.Join("entries", fmt.Sprintf("%08d.dsse.json", i)) }
	evidence, _ := filepath.Glob(filepath.Join(orig, "evidence", "sha256", "*"))
	shot, _ := filepath.Rel(orig, evidence[0])
	flip := func(rel string, at func([]byte) int) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, rel)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[at(b)] ^= 0x01
			os.WriteFile(p, b, 0o600)
		}
	}
	middle := func(b []byte) int { return len(b) / 2 }
	cases := []struct {
		name      string
		tamper    func(t *testing.T, dir string)
		what, how string
	}{
		{"one byte of an entry", flip(entry(3), middle), "entry 3 (entries/00000003.dsse.json)", Altered},
		{"one byte of an evidence file", flip(shot, middle), "evidence sha256:" + filepath.Base(shot), Altered},
		{"one byte of the checkpoint's tree", flip(CheckpointFile, func(b []byte) int { return len(testOrigin) + 1 }), "checkpoint", Altered},
		{"one byte of the checkpoint's signature", flip(CheckpointFile, func(b []byte) int { return len(b) - 10 }), "checkpoint", Altered},
		{"an entry removed", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, entry(4))) }, "entry 4 (entries/00000004.dsse.json)", Removed},
		{"two entries swapped", func(t *testing.T, dir string) {
			a, _ := os.ReadFile(filepath.Join(dir, entry(2)))
			b, _ := os.ReadFile(filepath.Join(dir, entry(5)))
			os.WriteFile(filepath.Join(dir, entry(2)), b, 0o600)
			os.WriteFile(filepath.Join(dir, entry(5)), a, 0o600)
		}, "entry 2 (entries/00000002.dsse.json)", Reordered},
		{"two entries swapped with their proofs", func(t *testing.T, dir string) {
			for _, d := range []string{"entries", "proofs"} {
				files, _ := filepath.Glob(filepath.Join(dir, d, "0000000[25]*"))
				tmp := files[0] + ".tmp"
				os.Rename(files[0], tmp)
				os.Rename(files[1], files[0])
				os.Rename(tmp, files[1])
			}
		}, "entry 2 (entries/00000002.dsse.json)", Reordered},
		{"an inclusion proof", flip("proofs/00000001.tlog-proof", func(b []byte) int { return bytes.Index(b, []byte("index 1\n")) + 9 }), "inclusion proof of entry 1 (proofs/00000001.tlog-proof)", Altered},
		{"an evidence file removed", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, shot)) }, "evidence sha256:" + filepath.Base(shot), Removed},
		{"the manifest", flip(ManifestFile, middle), "manifest (manifest.dsse.json)", Altered},
		{"the report", flip(ReportFile, middle), ReportFile, Altered},
		{"the OSCAL document", flip(OSCALFile, middle), OSCALFile, Altered},
		{"a file added", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, entry(8)), []byte("{}"), 0o600)
		}, "entries/00000008.dsse.json", Unexpected},
		{"the checkpoint replaced by an older one", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, CheckpointFile), older, 0o600)
		}, "checkpoint", Altered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, orig)
			c.tamper(t, dir)
			_, err := Verify(dir, VerifyOptions{Key: l.pubKey(t)})
			f := failure(t, err)
			t.Log(err)
			if !strings.HasPrefix(f.What, c.what) || f.How != c.how {
				t.Errorf("verify said %q, want %q: %s", err, c.what, c.how)
			}
		})
	}
	t.Run("another log's key", func(t *testing.T) {
		other := newTestLog(t)
		_, err := Verify(orig, VerifyOptions{Key: other.pubKey(t)})
		if f := failure(t, err); f.What != "checkpoint" || f.How != Untrusted {
			t.Errorf("verify said %q", err)
		}
	})
}

// An auditor kept a checkpoint; the operator then rewrote the log from
// an entry before it (re-signing everything with the log's own key). The
// bundle of the rewritten log verifies on its own, and fails against the
// auditor's checkpoint; the honest log's later bundle passes.
func TestRewrittenLogIsNotConsistentWithAnEarlierCheckpoint(t *testing.T) {
	ctx := context.Background()
	honest := newTestLog(t)
	events := func(who string, n int) []tandem.AuditEvent {
		var out []tandem.AuditEvent
		for i := range n {
			out = append(out, tandem.AuditEvent{Kind: tandem.AuditFirstVisit, Repo: "shop", Preview: "pr-7", Generation: 1, Binding: bindA, Actor: fmt.Sprintf("%s%d@example.com", who, i)})
		}
		return out
	}
	for _, e := range events("a", 6) {
		honest.append(t, e)
	}
	kept, err := honest.Checkpoint(ctx) // what the auditor keeps
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events("b", 3) {
		honest.append(t, e)
	}
	v, err := Verify(honest.export(t, "honest", ExportOptions{Preview: "pr-7"}), VerifyOptions{Key: honest.pubKey(t), Earlier: kept})
	if err != nil || len(v.Consistent) == 0 || v.Consistent[len(v.Consistent)-1] != 6 {
		t.Fatalf("the honest log: %v %+v", err, v)
	}

	// The rewrite: the same key, entry 2 onwards replaced.
	rewritten := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(rewritten, "audit"), 0o700)
	for _, f := range []string{KeyFile, PublicKeyFile} {
		b, _ := os.ReadFile(filepath.Join(honest.data, f))
		os.WriteFile(filepath.Join(rewritten, f), b, 0o600)
	}
	forged := openTestLog(t, rewritten)
	replay := events("a", 2)
	replay = append(replay, events("forged", 7)...)
	for i, e := range replay {
		forged.append(t, e)
		if i == 5 {
			forged.Checkpoint(ctx) // it hands out a checkpoint of size 6 too
		}
	}
	out := forged.export(t, "forged", ExportOptions{Preview: "pr-7"})
	if _, err := Verify(out, VerifyOptions{Key: honest.pubKey(t)}); err != nil {
		t.Fatalf("on its own the rewritten log's bundle should verify: %v", err)
	}
	_, err = Verify(out, VerifyOptions{Key: honest.pubKey(t), Earlier: kept})
	if f := failure(t, err); f.What != "the earlier checkpoint (size 6)" || f.How != Inconsistent {
		t.Errorf("verify said %q", err)
	}

	// Had it kept the checkpoints it handed out before the rewrite, every
	// bundle of it would fail, with or without the auditor's copy.
	if err := forged.store.AddAuditCheckpoint(ctx, tandem.AuditCheckpoint{Size: 4, Note: mustCheckpointAt(t, honest, 4)}); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(forged.export(t, "forged2", ExportOptions{}), VerifyOptions{Key: honest.pubKey(t)})
	if f := failure(t, err); f.What != "checkpoint of size 4 (checkpoints/00000004)" || f.How != Inconsistent {
		t.Errorf("verify said %q", err)
	}

	// A bundle that carries no proof from the auditor's size proves nothing.
	other := newTestLog(t)
	_, err = Verify(honest.export(t, "x", ExportOptions{}), VerifyOptions{Key: honest.pubKey(t), Earlier: mustCheckpointAt(t, other, 0)})
	if f := failure(t, err); f.What != "the earlier checkpoint" || f.How != Untrusted {
		t.Errorf("a checkpoint of another log: %q", err)
	}
}

// mustCheckpointAt signs a checkpoint of l's first n entries, as l would
// have handed out when it held n.
func mustCheckpointAt(t *testing.T, l *testLog, n int64) []byte {
	t.Helper()
	recs, err := l.store.AuditRecords(context.Background(), tandem.AuditFilter{Size: n})
	if err != nil {
		t.Fatal(err)
	}
	tmp := openTestLog(t, copyKeyDir(t, l.data))
	if err := tmp.commit(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	cp, err := tmp.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func copyKeyDir(t *testing.T, data string) string {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(dir, "audit"), 0o700)
	for _, f := range []string{KeyFile, PublicKeyFile} {
		b, err := os.ReadFile(filepath.Join(data, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	return dir
}
