package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tandem-dev/tandem"
)

const (
	// PayloadType is the DSSE payload type of every entry: an in-toto
	// Statement v1.
	PayloadType = "application/vnd.in-toto+json"
	// PredicateType is tandem's predicate: a review event (docs/review.md).
	PredicateType = "https://tandem.dev/review-event/v1"
)

// Predicate is an entry's predicate: the event, and the log it was written
// to, so that an entry cannot pass for one of another tandem's log.
type Predicate struct {
	Log string `json:"log"` // the log's origin
	tandem.AuditEvent
}

var (
	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
	sha1Hex   = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// digestHex returns the hex of a "sha256:<hex>" or bare 64-hex digest.
func digestHex(d string) (string, bool) {
	h := strings.TrimPrefix(d, "sha256:")
	return h, sha256Hex.MatchString(h)
}

// subjects are what an event is about, as in-toto names artifacts: the
// commit, the resolved stack, each service's build and each evidence file.
// An event about a generation that ran nothing names the preview itself.
func subjects(e tandem.AuditEvent) []*intoto.ResourceDescriptor {
	var out []*intoto.ResourceDescriptor
	add := func(name, alg, digest string) {
		out = append(out, &intoto.ResourceDescriptor{Name: name, Digest: map[string]string{alg: digest}})
	}
	b := e.Binding
	repo := b.Repo
	if repo == "" {
		repo = e.Repo
	}
	switch {
	case sha1Hex.MatchString(b.Commit):
		add(repo, "gitCommit", b.Commit)
	case sha256Hex.MatchString(b.Commit):
		add(repo, "gitCommitSha256", b.Commit) // a SHA-256 repository; in-toto's gitCommit is SHA-1
	}
	if h, ok := digestHex(b.StackDigest); ok {
		add(repo+"/stack", "sha256", h)
	}
	services := make([]string, 0, len(b.Builds))
	for s := range b.Builds {
		services = append(services, s)
	}
	sort.Strings(services)
	for _, s := range services {
		if h, ok := digestHex(b.Builds[s]); ok {
			add(repo+"/build/"+s, "sha256", h)
		}
	}
	for _, ev := range e.Evidence {
		if h, ok := digestHex(ev.Digest); ok {
			add("evidence/"+h, "sha256", h)
		}
	}
	if len(out) == 0 {
		sum := sha256.Sum256([]byte(e.Preview))
		add("preview/"+e.Preview, "sha256", hex.EncodeToString(sum[:]))
	}
	return out
}

// statement makes the in-toto Statement of e, as compact JSON.
func statement(origin string, e tandem.AuditEvent) ([]byte, error) {
	pj, err := json.Marshal(Predicate{Log: origin, AuditEvent: e})
	if err != nil {
		return nil, err
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(pj, pred); err != nil {
		return nil, err
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       subjects(e),
		PredicateType: PredicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "audit: in-toto statement: %w", err)
	}
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	// protojson varies its whitespace on purpose; an entry's bytes are
	// easier to read and to compare without it.
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil, err
	}
	return c.Bytes(), nil
}

// Entry is a log entry read back and checked: its envelope's signature,
// its statement and its predicate.
type Entry struct {
	Index     int64
	Envelope  []byte
	Statement *intoto.Statement
	Predicate Predicate
}

// openEntry checks an entry's envelope against p and reads its statement.
func openEntry(p PublicKey, origin string, index int64, env []byte) (*Entry, error) {
	var e dsse.Envelope
	dec := json.NewDecoder(bytes.NewReader(env))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if e.PayloadType != PayloadType {
		return nil, fmt.Errorf("payload type %q, not %q", e.PayloadType, PayloadType)
	}
	body, err := openEnvelope(p, &e)
	if err != nil {
		return nil, fmt.Errorf("DSSE signature does not verify: %w", err)
	}
	st := &intoto.Statement{}
	if err := protojson.Unmarshal(body, st); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	if st.GetPredicateType() != PredicateType {
		return nil, fmt.Errorf("predicate type %q, not %q", st.GetPredicateType(), PredicateType)
	}
	pj, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, err
	}
	out := &Entry{Index: index, Envelope: env, Statement: st}
	if err := json.Unmarshal(pj, &out.Predicate); err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	if out.Predicate.Log != origin {
		return nil, fmt.Errorf("written to log %q, not %q", out.Predicate.Log, origin)
	}
	return out, nil
}

// check refuses an event that lacks what its kind needs.
func check(e tandem.AuditEvent) error {
	bad := func(format string, args ...any) error {
		return tandem.Errorf(tandem.EINVALID, "audit: %s event: "+format, append([]any{e.Kind}, args...)...)
	}
	if e.Kind == "" {
		return tandem.Errorf(tandem.EINVALID, "audit: an event needs a kind")
	}
	if err := tandem.ValidPreviewName(e.Preview); err != nil {
		return bad("%v", err)
	}
	if e.Actor == "" {
		return bad("no actor: who did it?")
	}
	for _, ev := range e.Evidence {
		if _, ok := digestHex(ev.Digest); !ok || !strings.HasPrefix(ev.Digest, "sha256:") {
			return bad("evidence %q: digest %q is not sha256:<64 hex>", ev.Name, ev.Digest)
		}
	}
	switch e.Kind {
	case tandem.AuditAccessGranted, tandem.AuditAccessRevoked:
		if e.Access == nil || e.Access.Person == "" {
			return bad("no person")
		}
	case tandem.AuditChecklistResult:
		if e.Checklist == nil || e.Checklist.Item == "" || e.Checklist.Result == "" {
			return bad("no checklist item and result")
		}
	case tandem.AuditEvidenceAdded:
		if len(e.Evidence) == 0 {
			return bad("no evidence")
		}
	case tandem.AuditSigned:
		return checkSignature(e.Signature, bad)
	}
	return nil
}

// checkSignature wants what 21 CFR 11.50 and 11.200 ask a signature to show.
func checkSignature(s *tandem.Signature, bad func(string, ...any) error) error {
	switch {
	case s == nil:
		return bad("no signature")
	case strings.TrimSpace(s.PrintedName) == "" || s.Identity == "":
		return bad("a signature needs the signer's printed name and identity")
	case s.Time.IsZero() || s.Time.Location() != time.UTC:
		return bad("a signature needs its time, in UTC")
	case s.Reauth == "" || s.ReauthAt.IsZero():
		return bad("a signature needs the re-authentication that preceded it")
	}
	switch s.Meaning {
	case tandem.MeaningReviewed, tandem.MeaningApproved, tandem.MeaningRejected, tandem.MeaningAuthored:
		return nil
	}
	return bad("meaning %q: reviewed, approved, rejected or authored", s.Meaning)
}
