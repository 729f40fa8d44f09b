package tandem

import (
	"context"
	"time"
)

// AuditKind names what an entry of the audit log records.
type AuditKind string

const (
	AuditPreviewCreated   AuditKind = "preview.created"   // a preview's first generation serves
	AuditPreviewUpdated   AuditKind = "preview.updated"   // a newer generation replaced the one serving
	AuditPreviewDestroyed AuditKind = "preview.destroyed" // the preview and everything it ran are gone
	AuditAccessGranted    AuditKind = "access.granted"    // a person may now open the preview
	AuditAccessRevoked    AuditKind = "access.revoked"
	AuditFirstVisit       AuditKind = "visit.first"      // a person's first request to a generation
	AuditChecklistResult  AuditKind = "checklist.result" // a checklist item passed or failed
	AuditEvidenceAdded    AuditKind = "evidence.added"   // files kept as evidence (Evidence)
	AuditSigned           AuditKind = "signature"        // an electronic signature (Signature)
)

// AuditEvent is what happened, as an entry of the audit log records it:
// about one generation of one preview, bound to what that generation ran.
// It never holds a secret: entries name variables, never their values.
// JSON is the entry's predicate (see docs/review.md).
type AuditEvent struct {
	Kind       AuditKind `json:"kind"`
	Time       time.Time `json:"time"` // set by the log when it appends: UTC
	Repo       string    `json:"repo"`
	Preview    string    `json:"preview"`
	Generation int       `json:"generation,omitempty"`
	// Binding is what the generation ran; empty for one that never ran.
	Binding Binding `json:"binding,omitzero"`
	// Actor is who did it: a person's identity, or "tandem" for the
	// server's own doing (a preview made, expired).
	Actor  string `json:"actor"`
	Detail string `json:"detail,omitempty"` // for people: "shop at refs/pull/7/head"

	// One of these goes with the kinds that need it.
	Access    *AuditAccess    `json:"access,omitempty"`
	Checklist *AuditChecklist `json:"checklist,omitempty"`
	Evidence  []Evidence      `json:"evidence,omitempty"`
	Signature *Signature      `json:"signature,omitempty"`
}

// AuditAccess is who was let in, or out, and how.
type AuditAccess struct {
	Person  string    `json:"person"`
	Via     string    `json:"via"` // "share-link", "sso", "group:qa"
	Expires time.Time `json:"expires,omitzero"`
}

// AuditChecklist is one checklist item's result.
type AuditChecklist struct {
	Item   string `json:"item"` // the item's id in the review plan
	Text   string `json:"text"`
	Result string `json:"result"` // "pass", "fail", "n/a"
	Note   string `json:"note,omitempty"`
}

// Evidence is a file kept by its content's digest, under DATA/evidence:
// a screenshot, the HTTP exchanges of a page load, an uploaded report.
type Evidence struct {
	Digest    string `json:"digest"` // "sha256:<64 hex>"
	Name      string `json:"name"`   // what it shows: "screenshot of /checkout at 1280x800"
	MediaType string `json:"media_type,omitempty"`
	Size      int64  `json:"size"`
}

// SignatureMeaning is what a signer means by signing (21 CFR 11.50(a)(3)).
type SignatureMeaning string

const (
	MeaningReviewed SignatureMeaning = "reviewed"
	MeaningApproved SignatureMeaning = "approved"
	MeaningRejected SignatureMeaning = "rejected"
	MeaningAuthored SignatureMeaning = "authored"
)

// Signature is an electronic signature as 21 CFR Part 11 wants it recorded:
// the printed name, the time (UTC) and the meaning (11.50), and how the
// signer proved who they were at that moment (11.200). In the log it is
// part of the signed entry, with the generation and binding it signs, so it
// cannot be moved to another record (11.70).
type Signature struct {
	PrintedName string           `json:"printed_name"`
	Identity    string           `json:"identity"` // the signer's account: an email, or OIDC issuer and subject
	Meaning     SignatureMeaning `json:"meaning"`
	Time        time.Time        `json:"time"`            // UTC
	Stage       string           `json:"stage,omitempty"` // the approval stage signed for
	Reauth      string           `json:"reauth"`          // "oidc", "totp", "email-code"
	ReauthAt    time.Time        `json:"reauth_at"`       // when that re-authentication happened
	Comment     string           `json:"comment,omitempty"`
	// Checklist is the checklist as the signer saw it, each item with its
	// result and the log entry that recorded it: what was signed, beside
	// the generation, its binding and the review plan's digest.
	Checklist []SignedItem `json:"checklist,omitempty"`
}

// SignedItem is a checklist item's state in a signature.
type SignedItem struct {
	Item   string `json:"item"`
	Result string `json:"result"` // "pass", "fail", "n/a"; "" for none
	Entry  int64  `json:"entry"`  // the log entry of that result; -1 for none
}

// AuditEntry is an event as the log keeps it.
type AuditEntry struct {
	Index int64     // its place in the log, from 0
	Time  time.Time // when it was appended, UTC
	// Envelope is the DSSE envelope of the signed in-toto statement: the
	// exact bytes the log's Merkle tree hashes.
	Envelope []byte
}

// AuditLog is the tamper-evident log of what happened to previews and
// their reviews: an append-only transparency log (package audit).
type AuditLog interface {
	// Append signs e as the log's next entry and returns it once it is
	// durable. It sets e.Time. EINVALID if e lacks a kind or a preview, or
	// a kind's details (a signature's printed name, meaning, time...).
	Append(ctx context.Context, e AuditEvent) (AuditEntry, error)
}

// AuditRecord is an entry as an AuditStore keeps it: the envelope, and
// what exports select entries by.
type AuditRecord struct {
	Index    int64
	Repo     string
	Preview  string
	Kind     AuditKind
	Time     time.Time
	Envelope []byte
}

// AuditHash is one of the Merkle tree's stored hashes, at its index as
// golang.org/x/mod/sumdb/tlog numbers them.
type AuditHash struct {
	Index int64
	Hash  [32]byte
}

// AuditFilter selects entries for an export.
type AuditFilter struct {
	Preview string    // "": every preview
	Repo    string    // "": every repository
	Since   time.Time // zero: from the first
	Size    int64     // only entries with an Index below it: a checkpoint's size
}

// AuditCheckpoint is a signed checkpoint the log handed out.
type AuditCheckpoint struct {
	Size int64
	Note []byte // the C2SP tlog-checkpoint signed note
}

// AuditStore keeps an audit log's entries, its Merkle tree's stored hashes
// and the checkpoints it signed: SQLite in the data directory by default.
// Package audit computes them; a store never changes what it was given.
type AuditStore interface {
	// AppendAudit adds recs, the log's next entries, and the stored hashes
	// they add to the tree, in one transaction, durable when it returns.
	// ECONFLICT unless the log holds exactly recs[0].Index entries.
	AppendAudit(ctx context.Context, recs []AuditRecord, hashes []AuditHash) error
	// AuditSize returns how many entries the log holds.
	AuditSize(ctx context.Context) (int64, error)
	// AuditHashes returns the stored hashes at indexes, in their order.
	// ENOTFOUND if one is not stored.
	AuditHashes(ctx context.Context, indexes []int64) ([][32]byte, error)
	// AuditRecords returns the entries f selects, oldest first.
	AuditRecords(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// AddAuditCheckpoint keeps a checkpoint the log signed; keeping one of
	// a size already kept is no error, and keeps the first.
	AddAuditCheckpoint(ctx context.Context, c AuditCheckpoint) error
	// AuditCheckpoints returns the checkpoints kept, smallest first.
	AuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error)
}
