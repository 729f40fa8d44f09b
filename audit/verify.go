package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"filippo.io/torchwood"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tandem-dev/tandem"
)

// How a part of a bundle fails to verify.
const (
	Altered      = "altered"               // its content is not what was signed or logged
	Removed      = "removed"               // the bundle lacks it
	Reordered    = "reordered"             // it holds another entry's content
	Inconsistent = "not consistent"        // the log was rewritten after a checkpoint
	Unexpected   = "unexpected"            // the bundle holds a file its manifest does not list
	Untrusted    = "not signed by the key" // signed, but not by the key given
	Unreadable   = "unreadable"            // not in the form the bundle's layout says
)

// Failure names the first part of a bundle that does not verify, and how.
type Failure struct {
	What string `json:"what"` // "entry 42 (entries/00000042.dsse.json)", "checkpoint", "evidence sha256:… of entry 7 (…)"
	How  string `json:"how"`  // Altered, Removed, Reordered, Inconsistent, Unexpected, Untrusted, Unreadable
	Why  string `json:"why"`
}

func (f *Failure) Error() string { return f.What + ": " + f.How + ": " + f.Why }

// VerifyOptions are what the auditor brings.
type VerifyOptions struct {
	// Key is the log's public key as the auditor got it (a note verifier
	// key or PEM). Without it the bundle's own key is used, which shows the
	// bundle is whole but not who made it.
	Key []byte
	// Earlier is a checkpoint of the log the auditor kept: the bundle must
	// prove the log still extends it.
	Earlier []byte
}

// Verified is what a bundle was shown to hold.
type Verified struct {
	Manifest      *Manifest
	Origin        string
	KeyFromBundle bool
	Entries       []*Entry
	Evidence      int     // evidence files checked
	Consistent    []int64 // sizes of earlier checkpoints the bundle's extends
}

// Verify checks the bundle at path (a directory, .tar or .tar.gz) offline:
// the checkpoint's signature, the manifest's, every entry's DSSE signature
// and inclusion proof, every evidence file's digest, the consistency of
// the log with every earlier checkpoint in it or given, and that it holds
// exactly what its manifest lists. The error is a *Failure for a bundle
// that does not verify.
func Verify(path string, opts VerifyOptions) (*Verified, error) {
	b, err := readBundle(path)
	if err != nil {
		return nil, &Failure{What: path, How: Unreadable, Why: err.Error()}
	}
	return b.verify(opts)
}

// verifier carries what verification learned so far.
type verifier struct {
	b      bundle
	pub    PublicKey
	origin string
	policy torchwood.Policy
	cp     torchwood.Checkpoint
	cpNote []byte
	m      *Manifest
	listed map[string]string // path → sha256 hex, from the manifest
	out    *Verified
}

func (b bundle) verify(opts VerifyOptions) (*Verified, error) {
	v := &verifier{b: b, out: &Verified{}}
	for _, step := range []func(VerifyOptions) error{
		v.key, v.checkpoint, v.manifest, v.entries, v.evidence, v.consistency, v.earlier, v.files,
	} {
		if err := step(opts); err != nil {
			return nil, err
		}
	}
	return v.out, nil
}

// file returns a file's content, or a Failure if the bundle lacks it.
func (v *verifier) file(what, name string) ([]byte, error) {
	f := v.b[name]
	if f == nil {
		return nil, &Failure{What: what, How: Removed, Why: "the bundle does not hold " + name}
	}
	if f.data == nil {
		return nil, &Failure{What: what, How: Unreadable, Why: name + " is not where the layout expects it"}
	}
	return f.data, nil
}

// key finds the key to check signatures with, and the log's origin.
func (v *verifier) key(opts VerifyOptions) error {
	given := opts.Key
	if given == nil {
		data, err := v.file("the log's key", VerifierFile)
		if err != nil {
			return err
		}
		given, v.out.KeyFromBundle = data, true
	}
	pub, err := ParsePublicKey(given)
	if err != nil {
		if v.out.KeyFromBundle {
			return &Failure{What: VerifierFile, How: Altered, Why: err.Error()}
		}
		return tandem.Errorf(tandem.EINVALID, "the key: %w", err)
	}
	v.pub, v.origin = pub, pub.Origin
	if v.origin == "" { // from PEM: the checkpoint names the log; its signature must agree
		cp, err := v.file("checkpoint", CheckpointFile)
		if err != nil {
			return err
		}
		v.origin, _, _ = strings.Cut(string(cp), "\n")
	}
	nv, err := pub.NoteVerifier(v.origin)
	if err != nil {
		return &Failure{What: "checkpoint", How: Unreadable, Why: err.Error()}
	}
	v.policy = torchwood.ThresholdPolicy(2, torchwood.OriginPolicy(v.origin), torchwood.SingleVerifierPolicy(nv))
	v.out.Origin = v.origin
	return nil
}

// openNote checks a signed checkpoint, saying how it fails.
func (v *verifier) openNote(what string, data []byte) (torchwood.Checkpoint, error) {
	c, _, err := torchwood.VerifyCheckpoint(data, v.policy)
	if err == nil {
		return c, nil
	}
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	if errors.As(err, &unverified) && !errors.As(err, &invalid) {
		return c, &Failure{What: what, How: Untrusted, Why: fmt.Sprintf("no signature by the log's key for %s verifies (%v)", v.origin, err)}
	}
	return c, &Failure{What: what, How: Altered, Why: "its signature does not verify: " + err.Error()}
}

func (v *verifier) checkpoint(VerifyOptions) error {
	data, err := v.file("checkpoint", CheckpointFile)
	if err != nil {
		return err
	}
	if v.cp, err = v.openNote("checkpoint", data); err != nil {
		return err
	}
	v.cpNote = data
	return nil
}

func (v *verifier) manifest(VerifyOptions) error {
	fail := func(how, format string, args ...any) error {
		return &Failure{What: "manifest (" + ManifestFile + ")", How: how, Why: fmt.Sprintf(format, args...)}
	}
	data, err := v.file("manifest", ManifestFile)
	if err != nil {
		return err
	}
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return fail(Altered, "not a DSSE envelope: %v", err)
	}
	if env.PayloadType != ManifestType {
		return fail(Altered, "payload type %q, not %q", env.PayloadType, ManifestType)
	}
	body, err := openEnvelope(v.pub, &env)
	if err != nil {
		return fail(Altered, "its signature by the log's key does not verify")
	}
	m := &Manifest{}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil || m.Type != BundleType {
		return fail(Unreadable, "not a manifest of type %s (%v)", BundleType, err)
	}
	if m.Origin != v.origin {
		return fail(Untrusted, "it is of log %q, not %q", m.Origin, v.origin)
	}
	if m.Checkpoint.Size != v.cp.N || m.Checkpoint.Root != base64.StdEncoding.EncodeToString(v.cp.Hash[:]) {
		return &Failure{What: "checkpoint", How: Altered, Why: fmt.Sprintf("the manifest lists the checkpoint of size %d and root %s, the bundle's is of size %d: it was replaced", m.Checkpoint.Size, m.Checkpoint.Root, v.cp.N)}
	}
	v.listed = map[string]string{}
	for _, f := range m.Files {
		v.listed[f.Path] = f.SHA256
	}
	for i, e := range m.Entries {
		switch {
		case e.Index < 0 || e.Index >= v.cp.N || (i > 0 && e.Index <= m.Entries[i-1].Index):
			return fail(Unreadable, "entry %d is out of order or beyond the checkpoint", e.Index)
		case e.Path != entryPath(e.Index) || e.Proof != proofPath(e.Index):
			return fail(Unreadable, "entry %d is not at %s", e.Index, entryPath(e.Index))
		case m.Selection.Complete && e.Index != int64(i):
			return &Failure{What: fmt.Sprintf("entry %d (%s)", i, entryPath(int64(i))), How: Removed, Why: "the bundle claims every entry of the log, and lacks this one"}
		}
	}
	if m.Selection.Complete && int64(len(m.Entries)) != v.cp.N {
		n := int64(len(m.Entries))
		return &Failure{What: fmt.Sprintf("entry %d (%s)", n, entryPath(n)), How: Removed, Why: "the bundle claims every entry of the log, and lacks this one"}
	}
	v.m, v.out.Manifest = m, m
	return nil
}

func (v *verifier) entries(VerifyOptions) error {
	byDigest := map[string]int64{}
	for _, e := range v.m.Entries {
		byDigest[v.listed[e.Path]] = e.Index
	}
	for _, me := range v.m.Entries {
		what := fmt.Sprintf("entry %d (%s)", me.Index, me.Path)
		data, err := v.file(what, me.Path)
		if err != nil {
			return err
		}
		proof, err := v.file(fmt.Sprintf("inclusion proof of entry %d", me.Index), me.Proof)
		if err != nil {
			return err
		}
		if err := v.included(what, me, data, proof, byDigest); err != nil {
			return err
		}
		e, err := openEntry(v.pub, v.origin, me.Index, data)
		if err != nil {
			return &Failure{What: what, How: Altered, Why: "the log holds it, but it is not a valid entry: " + err.Error()}
		}
		v.out.Entries = append(v.out.Entries, e)
	}
	return nil
}

// included checks an entry's inclusion proof (C2SP tlog-proof) against the
// bundle's checkpoint, and if it fails says whether the entry or its proof
// was changed, or the entry is another one's.
func (v *verifier) included(what string, me ManifestEntry, data, proof []byte, byDigest map[string]int64) error {
	sum := sha256Of(data)
	if j, ok := byDigest[sum]; ok && j != me.Index {
		return &Failure{What: what, How: Reordered, Why: fmt.Sprintf("it holds entry %d of the log, not entry %d: entries were swapped or moved", j, me.Index)}
	}
	proofWhat := fmt.Sprintf("inclusion proof of entry %d (%s)", me.Index, me.Proof)
	idx, cp, err := proofHeader(proof)
	switch {
	case err != nil:
		return &Failure{What: proofWhat, How: Altered, Why: err.Error()}
	case idx != me.Index:
		return &Failure{What: proofWhat, How: Reordered, Why: fmt.Sprintf("it is the proof of entry %d", idx)}
	case !bytes.Equal(cp, v.cpNote):
		return &Failure{What: proofWhat, How: Altered, Why: "it is against another checkpoint than the bundle's"}
	}
	err = torchwood.VerifyProof(v.policy, tlog.RecordHash(data), proof)
	if err == nil {
		return nil
	}
	var bad *torchwood.VerifyRecordError
	switch {
	case !errors.As(err, &bad):
		return &Failure{What: proofWhat, How: Altered, Why: err.Error()}
	case v.listed[me.Path] == sum:
		return &Failure{What: proofWhat, How: Altered, Why: "it does not prove the entry the manifest lists"}
	}
	return &Failure{What: what, How: Altered, Why: "it is not the entry the log holds at this index: its inclusion proof does not verify against the checkpoint"}
}

// proofHeader reads a tlog-proof's index and the checkpoint it carries.
func proofHeader(p []byte) (int64, []byte, error) {
	head, cp, ok := bytes.Cut(p, []byte("\n\n"))
	lines := strings.Split(string(head), "\n")
	if !ok || len(lines) < 2 || lines[0] != "c2sp.org/tlog-proof@v1" {
		return 0, nil, errors.New("not a C2SP tlog-proof")
	}
	line := lines[1]
	if strings.HasPrefix(line, "extra ") && len(lines) > 2 {
		line = lines[2]
	}
	s, ok := strings.CutPrefix(line, "index ")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil {
		return 0, nil, errors.New("a C2SP tlog-proof without its index")
	}
	return n, cp, nil
}

func (v *verifier) evidence(VerifyOptions) error {
	seen := map[string]bool{}
	for _, e := range v.out.Entries {
		for _, ev := range e.Predicate.Evidence {
			h, ok := digestHex(ev.Digest)
			if !ok {
				return &Failure{What: fmt.Sprintf("entry %d", e.Index), How: Unreadable, Why: fmt.Sprintf("evidence digest %q", ev.Digest)}
			}
			if seen[h] {
				continue
			}
			seen[h] = true
			p := evidencePath(h)
			what := fmt.Sprintf("evidence %s of entry %d (%s)", ev.Digest, e.Index, p)
			f := v.b[p]
			switch {
			case f == nil:
				return &Failure{What: what, How: Removed, Why: "the entry names it; the bundle does not hold it"}
			case hex.EncodeToString(f.sum[:]) != h:
				return &Failure{What: what, How: Altered, Why: "its content's sha256 is " + hex.EncodeToString(f.sum[:])}
			}
			v.out.Evidence++
		}
	}
	return nil
}

// consistency checks the log extends every checkpoint it handed out.
func (v *verifier) consistency(VerifyOptions) error {
	for _, mc := range v.m.Consistency {
		what := fmt.Sprintf("checkpoint of size %d (%s)", mc.Size, mc.Checkpoint)
		if mc.Checkpoint != checkpointPath(mc.Size) || mc.Proof != consistencyPath(mc.Size) {
			return &Failure{What: "manifest (" + ManifestFile + ")", How: Unreadable, Why: what + " is not where the layout puts it"}
		}
		data, err := v.file(what, mc.Checkpoint)
		if err != nil {
			return err
		}
		old, err := v.openNote(what, data)
		if err != nil {
			return err
		}
		if old.N != mc.Size {
			return &Failure{What: what, How: Altered, Why: fmt.Sprintf("it is of size %d", old.N)}
		}
		if err := v.extends(what, old, "the log handed out this checkpoint, then rewrote what it covered"); err != nil {
			return err
		}
	}
	return nil
}

// earlier checks the log extends the checkpoint the auditor kept.
func (v *verifier) earlier(opts VerifyOptions) error {
	if opts.Earlier == nil {
		return nil
	}
	old, err := v.openNote("the earlier checkpoint", opts.Earlier)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("the earlier checkpoint (size %d)", old.N)
	if old.N > v.cp.N {
		return &Failure{What: what, How: Inconsistent, Why: fmt.Sprintf("it is newer than the bundle's checkpoint (size %d): the log shrank, or export a newer bundle", v.cp.N)}
	}
	return v.extends(what, old, "the log was rewritten after this checkpoint was taken")
}

// extends checks the bundle's checkpoint extends old with the consistency
// proof the bundle carries for old's size.
func (v *verifier) extends(what string, old torchwood.Checkpoint, rewritten string) error {
	switch {
	case old.N == 0:
	case old.N == v.cp.N:
		if old.Hash != v.cp.Hash {
			return &Failure{What: what, How: Inconsistent, Why: "it has the same size as the bundle's checkpoint and another root: " + rewritten}
		}
	default:
		p := consistencyPath(old.N)
		data, err := v.file(what, p)
		if err != nil {
			return &Failure{What: what, How: Inconsistent, Why: "the bundle holds no consistency proof from its size (" + p + "): export again with --checkpoint"}
		}
		proof, err := parseConsistency(data, old.N, v.cpNote)
		if err != nil {
			return &Failure{What: "consistency proof " + p, How: Altered, Why: err.Error()}
		}
		if err := tlog.CheckTree(proof, v.cp.N, v.cp.Hash, old.N, old.Hash); err != nil {
			return &Failure{What: what, How: Inconsistent, Why: rewritten}
		}
	}
	v.out.Consistent = append(v.out.Consistent, old.N)
	return nil
}

// parseConsistency reads a consistency proof written as a C2SP tlog-witness
// add-checkpoint request: "old N", the proof's hashes, a blank line, and
// the checkpoint it leads to, which must be the bundle's.
func parseConsistency(data []byte, old int64, cp []byte) (tlog.TreeProof, error) {
	head, rest, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok || !bytes.Equal(rest, cp) {
		return nil, errors.New("it does not lead to the bundle's checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != "old "+strconv.FormatInt(old, 10) || len(lines) > 64 {
		return nil, fmt.Errorf("it does not start from size %d", old)
	}
	var p tlog.TreeProof
	for _, l := range lines[1:] {
		h, err := tlog.ParseHash(l)
		if err != nil {
			return nil, err
		}
		p = append(p, h)
	}
	return p, nil
}

// files checks every file the manifest lists, and that there are no others.
func (v *verifier) files(VerifyOptions) error {
	for _, f := range v.m.Files {
		got := v.b[f.Path]
		switch {
		case got == nil:
			return &Failure{What: f.Path, How: Removed, Why: "the manifest lists it; the bundle does not hold it"}
		case hex.EncodeToString(got.sum[:]) != f.SHA256:
			return &Failure{What: f.Path, How: Altered, Why: "its sha256 is not the one the manifest lists"}
		}
	}
	names := make([]string, 0, len(v.b))
	for name := range v.b {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := v.listed[name]; !ok && name != ManifestFile {
			return &Failure{What: name, How: Unexpected, Why: "the manifest does not list it"}
		}
	}
	return nil
}

func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
