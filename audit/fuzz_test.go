package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// The fuzzers: go test -run '^$' -fuzz FuzzBundleFile -fuzztime 2m ./audit/,
// and FuzzBundleArchive with -fuzzminimizetime 50x (minimizing a gzip
// stream a byte at a time would take the whole run). Both hold verify to one property: whatever the
// bytes, it does not panic, a failure names what and how, and a bundle
// that passes (with the log's key pinned) holds exactly the entries that
// were appended, byte for byte, at their indexes.

// fuzzLog is a small log, its key, and a bundle of all of it.
type fuzzLog struct {
	appended []tandem.AuditEntry
	key      []byte
	tgz      []byte
	files    bundle
	names    []string
}

func newFuzzLog(f *testing.F) *fuzzLog {
	l := newTestLog(f)
	notes, err := l.evid.Put(strings.NewReader("a small evidence file"), "notes", "text/plain", 0)
	if err != nil {
		f.Fatal(err)
	}
	fl := &fuzzLog{key: l.pubKey(f)}
	for _, e := range []tandem.AuditEvent{
		{Kind: tandem.AuditPreviewCreated, Repo: "shop", Preview: "pr-7", Generation: 1, Binding: bindA, Actor: "tandem"},
		{Kind: tandem.AuditEvidenceAdded, Repo: "shop", Preview: "pr-7", Generation: 1, Binding: bindA, Actor: "bob@example.com", Evidence: []tandem.Evidence{notes}},
		{Kind: tandem.AuditFirstVisit, Repo: "shop", Preview: "pr-8", Actor: "bob@example.com"},
	} {
		fl.appended = append(fl.appended, l.append(f, e))
	}
	l.Checkpoint(f.Context()) // so that the bundle carries a consistency proof
	l.append(f, tandem.AuditEvent{Kind: tandem.AuditPreviewDestroyed, Repo: "shop", Preview: "pr-8", Actor: "tandem"})
	fl.appended = append(fl.appended, tandem.AuditEntry{}) // not compared: the bundle below is of pr-7
	out := l.export(f, "b.tar.gz", ExportOptions{Preview: "pr-7"})
	if fl.tgz, err = os.ReadFile(out); err != nil {
		f.Fatal(err)
	}
	if fl.files, err = readBundle(out); err != nil {
		f.Fatal(err)
	}
	for name := range fl.files {
		fl.names = append(fl.names, name)
	}
	sort.Strings(fl.names)
	return fl
}

// check holds verify's outcome on b to the property.
func (fl *fuzzLog) check(t *testing.T, b bundle) {
	v, err := b.verify(VerifyOptions{Key: fl.key})
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) || f.What == "" || f.How == "" {
			t.Fatalf("verify failed without naming what: %v", err)
		}
		return
	}
	for _, e := range v.Entries {
		if e.Index >= int64(len(fl.appended)) || !bytes.Equal(e.Envelope, fl.appended[e.Index].Envelope) {
			t.Fatalf("verify passed a bundle whose entry %d was not appended", e.Index)
		}
	}
	if len(v.Entries) != 2 {
		t.Fatalf("verify passed a bundle of %d entries of pr-7; 2 were appended", len(v.Entries))
	}
}

// FuzzBundleFile replaces one file of a real bundle (or adds one) with
// the fuzzer's bytes: the parsers of every part meet hostile input with
// everything around them valid.
func FuzzBundleFile(f *testing.F) {
	fl := newFuzzLog(f)
	for i, name := range fl.names {
		if fl.files[name].data != nil {
			f.Add(uint16(i), fl.files[name].data)
		}
	}
	f.Add(uint16(len(fl.names)), []byte("an extra file"))
	f.Fuzz(func(t *testing.T, which uint16, data []byte) {
		b := bundle{}
		for name, file := range fl.files {
			b[name] = file
		}
		name := "extra"
		if int(which) < len(fl.names) {
			name = fl.names[which]
		}
		nf := &bundleFile{size: int64(len(data)), sum: sha256.Sum256(data)}
		if !streamed(name) {
			nf.data = data
		}
		b[name] = nf
		fl.check(t, b)
	})
}

// FuzzBundleArchive feeds the archive reader: gzip, tar, names, types.
func FuzzBundleArchive(f *testing.F) {
	fl := newFuzzLog(f)
	f.Add(fl.tgz)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := readArchive(bytes.NewReader(data))
		if err != nil {
			return
		}
		fl.check(t, b)
	})
}
