// Package audit is tandem's transparency log of what happened to previews
// and their reviews. Entries are DSSE envelopes of in-toto statements,
// signed with the server's Ed25519 key; a Merkle tree over them (RFC 6962,
// golang.org/x/mod/sumdb/tlog) has signed checkpoints (C2SP
// tlog-checkpoint) and inclusion proofs (C2SP tlog-proof). An export is a
// bundle that Verify checks offline. See docs/review.md.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tandem-dev/tandem"
)

// Log is the audit log over a store. Appends are serialised through one
// writer and committed in groups: an append returns once its entry, and
// those written with it, are durable. It is safe for many goroutines.
type Log struct {
	store tandem.AuditStore
	key   *Key
	now   func() time.Time

	qmu   sync.Mutex
	queue []*pending

	wmu  sync.Mutex // the writer
	size int64      // entries written; under wmu

	cmu    sync.Mutex
	latest tandem.AuditCheckpoint // the last checkpoint signed
}

var _ tandem.AuditLog = (*Log)(nil)

type pending struct {
	ev   tandem.AuditEvent
	done chan result
}

type result struct {
	entry tandem.AuditEntry
	err   error
}

// Open returns the log kept in store, signed with key.
func Open(ctx context.Context, store tandem.AuditStore, key *Key) (*Log, error) {
	n, err := store.AuditSize(ctx)
	if err != nil {
		return nil, err
	}
	return &Log{store: store, key: key, now: time.Now, size: n}, nil
}

// Origin is the log's name: its checkpoints' first line.
func (l *Log) Origin() string { return l.key.Origin() }

// PublicKey is the key that verifies the log's signatures.
func (l *Log) PublicKey() PublicKey { return l.key.Public() }

// Append signs e as the log's next entry and returns it once durable.
func (l *Log) Append(ctx context.Context, e tandem.AuditEvent) (tandem.AuditEntry, error) {
	if err := check(e); err != nil {
		return tandem.AuditEntry{}, err
	}
	p := &pending{ev: e, done: make(chan result, 1)}
	l.qmu.Lock()
	l.queue = append(l.queue, p)
	l.qmu.Unlock()

	// Whoever holds the writer writes everything queued, this one too if a
	// writer before it has not.
	l.wmu.Lock()
	select {
	case r := <-p.done:
		l.wmu.Unlock()
		return r.entry, r.err
	default:
	}
	l.qmu.Lock()
	batch := l.queue
	l.queue = nil
	l.qmu.Unlock()
	// A write that started goes through whatever its first caller does next.
	l.write(context.WithoutCancel(ctx), batch, false)
	l.wmu.Unlock()
	r := <-p.done
	return r.entry, r.err
}

// AppendAll appends events in their order as one transaction: all of them
// or none. It returns their entries once durable.
func (l *Log) AppendAll(ctx context.Context, events []tandem.AuditEvent) ([]tandem.AuditEntry, error) {
	batch := make([]*pending, len(events))
	for i, e := range events {
		if err := check(e); err != nil {
			return nil, err
		}
		batch[i] = &pending{ev: e, done: make(chan result, 1)}
	}
	l.wmu.Lock()
	l.write(context.WithoutCancel(ctx), batch, true)
	l.wmu.Unlock()
	entries := make([]tandem.AuditEntry, len(batch))
	for i, p := range batch {
		r := <-p.done
		if r.err != nil {
			return nil, r.err
		}
		entries[i] = r.entry
	}
	return entries, nil
}

// write appends batch as one transaction, under wmu, and answers each.
// An event that cannot be sealed fails alone, or all of them if atomic.
func (l *Log) write(ctx context.Context, batch []*pending, atomic bool) {
	var sealed []*pending
	var recs []tandem.AuditRecord
	for _, p := range batch {
		p.ev.Time = l.now().UTC()
		env, err := l.seal(p.ev)
		if err != nil && atomic {
			for _, p := range batch {
				p.done <- result{err: err}
			}
			return
		}
		if err != nil {
			p.done <- result{err: err}
			continue
		}
		sealed = append(sealed, p)
		recs = append(recs, tandem.AuditRecord{Repo: p.ev.Repo, Preview: p.ev.Preview, Kind: p.ev.Kind, Time: p.ev.Time, Envelope: env})
	}
	err := l.commit(ctx, recs)
	for try := 0; tandem.ErrorCode(err) == tandem.ECONFLICT && try < 10; try++ {
		// Another process appended to the same file: take the log's size
		// again and hash at the new places.
		if l.size, err = l.store.AuditSize(ctx); err == nil {
			err = l.commit(ctx, recs)
		}
	}
	for i, p := range sealed {
		if err != nil {
			p.done <- result{err: err}
			continue
		}
		p.done <- result{entry: tandem.AuditEntry{Index: recs[i].Index, Time: recs[i].Time, Envelope: recs[i].Envelope}}
	}
}

// seal signs an event's statement as a DSSE envelope, in compact JSON.
func (l *Log) seal(e tandem.AuditEvent) ([]byte, error) {
	st, err := statement(l.Origin(), e)
	if err != nil {
		return nil, err
	}
	env, err := l.key.sign(PayloadType, st)
	if err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

// commit numbers recs from the log's size, adds the tree's hashes for
// them, and stores both in one transaction.
func (l *Log) commit(ctx context.Context, recs []tandem.AuditRecord) error {
	added := map[int64]tlog.Hash{}
	r := l.hashReader(ctx, added)
	var hashes []tandem.AuditHash
	for i := range recs {
		n := l.size + int64(i)
		recs[i].Index = n
		hs, err := tlog.StoredHashes(n, recs[i].Envelope, r)
		if err != nil {
			return fmt.Errorf("audit: hash entry %d: %w", n, err)
		}
		at := tlog.StoredHashIndex(0, n)
		for j, h := range hs {
			added[at+int64(j)] = h
			hashes = append(hashes, tandem.AuditHash{Index: at + int64(j), Hash: h})
		}
	}
	if err := l.store.AppendAudit(ctx, recs, hashes); err != nil {
		return err
	}
	l.size += int64(len(recs))
	return nil
}

// hashReader reads the tree's stored hashes from the store, and those in
// added (written in this transaction) from there.
func (l *Log) hashReader(ctx context.Context, added map[int64]tlog.Hash) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		var want []int64
		var at []int
		for i, x := range indexes {
			if h, ok := added[x]; ok {
				out[i] = h
			} else {
				want = append(want, x)
				at = append(at, i)
			}
		}
		if len(want) > 0 {
			hs, err := l.store.AuditHashes(ctx, want)
			if err != nil {
				return nil, err
			}
			for i, h := range hs {
				out[at[i]] = h
			}
		}
		return out, nil
	})
}

// Checkpoint returns a signed checkpoint of the log as it is now (C2SP
// tlog-checkpoint), and keeps it: an export proves the log extends every
// checkpoint it handed out.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) {
	n, err := l.store.AuditSize(ctx)
	if err != nil {
		return nil, err
	}
	l.cmu.Lock()
	defer l.cmu.Unlock()
	if l.latest.Note != nil && l.latest.Size == n {
		return l.latest.Note, nil
	}
	h, err := tlog.TreeHash(n, l.hashReader(ctx, nil))
	if err != nil {
		return nil, fmt.Errorf("audit: tree hash at %d: %w", n, err)
	}
	text := torchwood.Checkpoint{Origin: l.Origin(), Tree: tlog.Tree{N: n, Hash: h}}.String()
	signed, err := note.Sign(&note.Note{Text: text}, l.key.signer)
	if err != nil {
		return nil, err
	}
	cp := tandem.AuditCheckpoint{Size: n, Note: signed}
	if err := l.store.AddAuditCheckpoint(ctx, cp); err != nil {
		return nil, err
	}
	l.latest = cp
	return signed, nil
}

// Proof returns the inclusion proof of entry index in the tree that the
// signed checkpoint cp describes, as a C2SP tlog-proof (which carries cp).
func (l *Log) Proof(ctx context.Context, index int64, cp []byte) ([]byte, error) {
	c, err := l.openCheckpoint(cp)
	if err != nil {
		return nil, err
	}
	if index < 0 || index >= c.N {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "audit: no entry %d in a log of %d", index, c.N)
	}
	p, err := tlog.ProveRecord(c.N, index, l.hashReader(ctx, nil))
	if err != nil {
		return nil, fmt.Errorf("audit: prove entry %d: %w", index, err)
	}
	return torchwood.FormatProof(index, p, cp), nil
}

// ConsistencyProof proves that the tree of size old is a prefix of the one
// cp describes, in the form of a C2SP tlog-witness add-checkpoint request:
// "old SIZE", the proof's hashes, a blank line, then cp.
func (l *Log) ConsistencyProof(ctx context.Context, old int64, cp []byte) ([]byte, error) {
	c, err := l.openCheckpoint(cp)
	if err != nil {
		return nil, err
	}
	if old < 0 || old > c.N {
		return nil, tandem.Errorf(tandem.EINVALID, "audit: no consistency from size %d to %d", old, c.N)
	}
	var p tlog.TreeProof
	if old > 0 {
		if p, err = tlog.ProveTree(c.N, old, l.hashReader(ctx, nil)); err != nil {
			return nil, fmt.Errorf("audit: prove %d consistent with %d: %w", old, c.N, err)
		}
	}
	return formatConsistency(old, p, cp), nil
}

func formatConsistency(old int64, p tlog.TreeProof, cp []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range p {
		fmt.Fprintf(&b, "%s\n", h)
	}
	b.WriteString("\n")
	b.Write(cp)
	return []byte(b.String())
}

// openCheckpoint checks a checkpoint of this log.
func (l *Log) openCheckpoint(cp []byte) (torchwood.Checkpoint, error) {
	c, err := openCheckpoint(l.PublicKey(), l.Origin(), cp)
	if err != nil {
		return c, tandem.Errorf(tandem.EINVALID, "audit: checkpoint: %w", err)
	}
	return c, nil
}

// openCheckpoint checks a signed checkpoint of the log called origin.
func openCheckpoint(p PublicKey, origin string, cp []byte) (torchwood.Checkpoint, error) {
	v, err := p.NoteVerifier(origin)
	if err != nil {
		return torchwood.Checkpoint{}, err
	}
	policy := torchwood.ThresholdPolicy(2, torchwood.OriginPolicy(origin), torchwood.SingleVerifierPolicy(v))
	c, _, err := torchwood.VerifyCheckpoint(cp, policy)
	if err != nil {
		var unknown *note.UnknownVerifierError
		if errors.As(err, &unknown) {
			return c, fmt.Errorf("not signed by the log's key (%s): %w", origin, err)
		}
		return c, err
	}
	return c, nil
}
