package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/torchwood"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tandem-dev/tandem"
)

// An entry is a DSSE envelope, signed with the log's key, of an in-toto
// Statement v1 whose subjects are what the generation ran and whose
// predicate is the event; read with the libraries' own types.
func TestEntryIsASignedInTotoStatement(t *testing.T) {
	l := newTestLog(t)
	entries := l.review(t)
	var env dsse.Envelope
	if err := json.Unmarshal(entries[3].Envelope, &env); err != nil {
		t.Fatal(err)
	}
	if env.PayloadType != "application/vnd.in-toto+json" || len(env.Signatures) != 1 || env.Signatures[0].KeyID != l.PublicKey().KeyID() {
		t.Fatalf("envelope %+v", env)
	}
	ev, _ := dsse.NewEnvelopeVerifier(dsseVerifier{l.PublicKey()})
	if _, err := ev.Verify(context.Background(), &env); err != nil {
		t.Fatal(err)
	}
	body, _ := env.DecodeB64Payload()
	var st intoto.Statement
	if err := protojson.Unmarshal(body, &st); err != nil || st.Validate() != nil {
		t.Fatalf("statement: %v %v", err, st.Validate())
	}
	if st.PredicateType != PredicateType {
		t.Errorf("predicate type %q", st.PredicateType)
	}
	want := map[string]string{
		"shop":           "gitCommit:" + commitA,
		"shop/stack":     "sha256:" + strings.Repeat("5", 64),
		"shop/build/api": "sha256:" + strings.Repeat("6", 64),
		"shop/build/web": "sha256:" + strings.Repeat("7", 64),
	}
	got := map[string]string{}
	for _, s := range st.Subject {
		for alg, d := range s.Digest {
			got[s.Name] = alg + ":" + d
		}
	}
	for name, d := range want {
		if got[name] != d {
			t.Errorf("subject %s = %q, want %q (all: %v)", name, got[name], d, got)
		}
	}
	if n := len(got) - len(want); n != 2 {
		t.Errorf("%d evidence subjects, want 2: %v", n, got)
	}
	pred := st.Predicate.AsMap()
	if pred["log"] != testOrigin || pred["kind"] != "evidence.added" || pred["preview"] != "pr-7" || pred["actor"] != "bob@example.com" {
		t.Errorf("predicate %v", pred)
	}
	// Nothing of the signing key's secret half, and no secret values.
	key, _ := os.ReadFile(filepath.Join(l.data, KeyFile))
	secret := strings.TrimSpace(string(key))
	if parts := strings.SplitN(secret, "+", 5); bytes.Contains(body, []byte(parts[4])) || bytes.Contains(entries[3].Envelope, []byte(parts[4])) {
		t.Error("the private key is in an entry")
	}
}

// Many goroutines append at once: every entry gets its own index, each is
// where Append said, and the tree over them, computed by a second
// implementation, is the checkpoint's.
func TestConcurrentAppends(t *testing.T) {
	l := newTestLog(t)
	const writers, each = 8, 40
	var wg sync.WaitGroup
	got := make([][]tandem.AuditEntry, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e, err := l.Append(context.Background(), tandem.AuditEvent{
					Kind: tandem.AuditFirstVisit, Repo: "shop", Preview: "pr-1", Generation: 1, Binding: bindA,
					Actor: fmt.Sprintf("writer%d-%d@example.com", w, i),
				})
				if err != nil {
					t.Error(err)
					return
				}
				got[w] = append(got[w], e)
			}
		})
	}
	wg.Wait()
	recs, err := l.store.AuditRecords(context.Background(), tandem.AuditFilter{})
	if err != nil || len(recs) != writers*each {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for _, es := range got {
		for _, e := range es {
			if !bytes.Equal(recs[e.Index].Envelope, e.Envelope) {
				t.Fatalf("entry %d is not what Append returned", e.Index)
			}
		}
	}
	cp, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.openCheckpoint(cp)
	if err != nil || c.N != writers*each {
		t.Fatalf("checkpoint %+v %v", c, err)
	}
	if root := merkleRoot(recs); !bytes.Equal(root, c.Hash[:]) {
		t.Errorf("root %x, the second implementation says %x", c.Hash, root)
	}
}

// merkleRoot computes the RFC 6962 root of recs' envelopes with
// transparency-dev/merkle's hasher, independently of tlog.
func merkleRoot(recs []tandem.AuditRecord) []byte {
	h := rfc6962.DefaultHasher
	level := make([][]byte, len(recs))
	for i, r := range recs {
		level[i] = h.HashLeaf(r.Envelope)
	}
	var root func([][]byte) []byte
	root = func(l [][]byte) []byte {
		if len(l) == 1 {
			return l[0]
		}
		k := 1
		for k*2 < len(l) {
			k *= 2
		}
		return h.HashChildren(root(l[:k]), root(l[k:]))
	}
	if len(level) == 0 {
		return h.EmptyRoot()
	}
	return root(level)
}

// Inclusion and consistency proofs check with a second implementation.
func TestProofsAgreeWithTransparencyDevMerkle(t *testing.T) {
	l := newTestLog(t)
	ctx := context.Background()
	var sizes []int64
	var cps [][]byte
	for i := range 37 {
		l.append(t, tandem.AuditEvent{Kind: tandem.AuditFirstVisit, Repo: "shop", Preview: "pr-2", Actor: fmt.Sprintf("p%d@example.com", i)})
		if i%5 == 0 || i == 36 {
			cp, err := l.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sizes, cps = append(sizes, int64(i+1)), append(cps, cp)
		}
	}
	recs, _ := l.store.AuditRecords(ctx, tandem.AuditFilter{})
	last := cps[len(cps)-1]
	c, _ := l.openCheckpoint(last)
	for i, r := range recs {
		p, err := l.Proof(ctx, r.Index, last)
		if err != nil {
			t.Fatal(err)
		}
		hashes := proofHashes(t, p, "index "+fmt.Sprint(i))
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(c.N), rfc6962.DefaultHasher.HashLeaf(r.Envelope), hashes, c.Hash[:]); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
	for k, old := range sizes[:len(sizes)-1] {
		p, err := l.ConsistencyProof(ctx, old, last)
		if err != nil {
			t.Fatal(err)
		}
		oc, _ := l.openCheckpoint(cps[k])
		hashes := proofHashes(t, p, "old "+fmt.Sprint(old))
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(old), uint64(c.N), hashes, oc.Hash[:], c.Hash[:]); err != nil {
			t.Errorf("consistency %d → %d: %v", old, c.N, err)
		}
	}
	// The checkpoints are kept, one per size.
	kept, err := l.store.AuditCheckpoints(ctx)
	if err != nil || len(kept) != len(sizes) {
		t.Fatalf("kept %d checkpoints, want %d: %v", len(kept), len(sizes), err)
	}
}

// proofHashes reads the hashes of a tlog-proof or a consistency proof,
// after the line that starts them.
func proofHashes(t *testing.T, p []byte, after string) [][]byte {
	t.Helper()
	head, _, _ := bytes.Cut(p, []byte("\n\n"))
	lines := strings.Split(string(head), "\n")
	for i, l := range lines {
		if l == after {
			var out [][]byte
			for _, h := range lines[i+1:] {
				b, err := base64.StdEncoding.DecodeString(h)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, b)
			}
			return out
		}
	}
	t.Fatalf("no %q line in\n%s", after, p)
	return nil
}

// A signature lacking what Part 11 asks is refused, and so is an event
// without its kind's details.
func TestAppendRefusesIncompleteEvents(t *testing.T) {
	l := newTestLog(t)
	now := time.Now().UTC()
	full := tandem.Signature{PrintedName: "Bob", Identity: "bob@example.com", Meaning: tandem.MeaningApproved, Time: now, Reauth: "totp", ReauthAt: now}
	for name, change := range map[string]func(*tandem.AuditEvent){
		"no printed name": func(e *tandem.AuditEvent) { e.Signature.PrintedName = " " },
		"no reauth":       func(e *tandem.AuditEvent) { e.Signature.Reauth = "" },
		"local time":      func(e *tandem.AuditEvent) { e.Signature.Time = now.In(time.FixedZone("X", 3600)) },
		"odd meaning":     func(e *tandem.AuditEvent) { e.Signature.Meaning = "liked" },
		"no signature":    func(e *tandem.AuditEvent) { e.Signature = nil },
		"no actor":        func(e *tandem.AuditEvent) { e.Actor = "" },
		"bad preview":     func(e *tandem.AuditEvent) { e.Preview = "PR 7" },
		"bad evidence":    func(e *tandem.AuditEvent) { e.Evidence = []tandem.Evidence{{Digest: "md5:00"}} },
	} {
		s := full
		e := tandem.AuditEvent{Kind: tandem.AuditSigned, Repo: "shop", Preview: "pr-7", Actor: "bob@example.com", Signature: &s}
		change(&e)
		if _, err := l.Append(context.Background(), e); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%s: %v, want %s", name, err, tandem.EINVALID)
		}
	}
	if n, _ := l.store.AuditSize(context.Background()); n != 0 {
		t.Errorf("%d entries appended", n)
	}
}

// The key is made once, private, and read back the same; the public key
// reads in both its forms.
func TestKeyIsPrivateAndStable(t *testing.T) {
	data := t.TempDir()
	k1, err := EnsureKey(data, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := EnsureKey(data, "another.example/audit")
	if err != nil || !k1.Public().Equal(k2.Public()) || k2.Origin() != testOrigin {
		t.Fatalf("second EnsureKey: %v, origin %q", err, k2.Origin())
	}
	for path, want := range map[string]os.FileMode{"audit": 0o700 | os.ModeDir, KeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(data, path))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode(), want, err)
		}
	}
	vkey, _ := os.ReadFile(filepath.Join(data, PublicKeyFile))
	for _, form := range [][]byte{vkey, k1.Public().PEM()} {
		p, err := ParsePublicKey(form)
		if err != nil || !p.Equal(k1.Public()) {
			t.Errorf("ParsePublicKey(%q): %v", form, err)
		}
	}
	if _, err := ParsePublicKey([]byte("PRIVATE+KEY+x+00000000+AQ==")); err == nil {
		t.Error("a private key read as a public one")
	}
}

// The checkpoint and key are served without the API's token, and verify;
// every other path goes to the API as before.
func TestCheckpointIsPublished(t *testing.T) {
	l := newTestLog(t)
	l.review(t)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "token", http.StatusUnauthorized) })
	srv := httptest.NewServer(l.Public(api))
	defer srv.Close()
	get := func(path string) (int, []byte) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, vkey := get("/v1/audit/key")
	if code != 200 {
		t.Fatalf("key: %d", code)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	code, cp := get("/v1/audit/checkpoint")
	n, err := note.Open(cp, note.VerifierList(v))
	if code != 200 || err != nil {
		t.Fatalf("checkpoint: %d %v\n%s", code, err, cp)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil || c.N != 10 || c.Origin != testOrigin {
		t.Errorf("checkpoint %q: %v", n.Text, err)
	}
	if code, _ := get("/v1/previews"); code != http.StatusUnauthorized {
		t.Errorf("/v1/previews: %d, want the API's 401", code)
	}
	if code, pem := get("/v1/audit/key.pem"); code != 200 || !bytes.HasPrefix(pem, []byte("-----BEGIN PUBLIC KEY-----")) {
		t.Errorf("key.pem: %d %s", code, pem)
	}
}

// AppendAll writes its events together or not at all.
func TestAppendAllIsAllOrNothing(t *testing.T) {
	l := newTestLog(t)
	ok := tandem.AuditEvent{Kind: tandem.AuditFirstVisit, Repo: "shop", Preview: "pr-1", Actor: "a@example.com"}
	bad := ok
	bad.Kind = tandem.AuditChecklistResult // without its checklist
	if _, err := l.AppendAll(context.Background(), []tandem.AuditEvent{ok, bad}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("%v, want %s", err, tandem.EINVALID)
	}
	entries, err := l.AppendAll(context.Background(), []tandem.AuditEvent{ok, ok, ok})
	if err != nil || len(entries) != 3 || entries[0].Index != 0 || entries[2].Index != 2 {
		t.Fatalf("%+v, %v", entries, err)
	}
	if n, _ := l.store.AuditSize(context.Background()); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
}
