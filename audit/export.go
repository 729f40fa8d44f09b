package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// ExportOptions say what to export, and from where.
type ExportOptions struct {
	Preview string    // "": every preview
	Repo    string    // "": every repository
	Since   time.Time // zero: from the first entry
	// Evidence is where the entries' evidence files are kept.
	Evidence EvidenceDir
	// Earlier are checkpoints an auditor kept: besides those the log
	// handed out, the bundle proves the log extends each of them.
	Earlier [][]byte
}

// Export writes a bundle of the entries opts select to out: a directory,
// or a gzip-compressed tar if out ends in .tar.gz or .tgz. out must not
// exist; a failed export leaves nothing there. Warnings name entries that
// do not verify in the log itself: they are exported as they are, for
// Verify to name.
func (l *Log) Export(ctx context.Context, out string, opts ExportOptions) (m *Manifest, warnings []string, err error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := l.openCheckpoint(cp)
	if err != nil {
		return nil, nil, err
	}
	recs, err := l.store.AuditRecords(ctx, tandem.AuditFilter{Preview: opts.Preview, Repo: opts.Repo, Since: opts.Since, Size: c.N})
	if err != nil {
		return nil, nil, err
	}
	now := l.now().UTC()
	m = &Manifest{Type: BundleType, Origin: l.Origin(), Exported: now, Selection: Selection{
		Preview: opts.Preview, Repo: opts.Repo, Since: opts.Since.UTC(),
		Complete: opts.Preview == "" && opts.Repo == "" && opts.Since.IsZero(),
	}}
	m.Checkpoint.Size, m.Checkpoint.Root = c.N, base64.StdEncoding.EncodeToString(c.Hash[:])

	bw, finish, err := createBundle(out, now)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = finish(err) }()
	w := &hashingWriter{bundleWriter: bw}
	pub := l.PublicKey()
	vkey, err := pub.VerifierKey(l.Origin())
	if err != nil {
		return nil, nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{CheckpointFile, cp}, {VerifierFile, []byte(vkey + "\n")}, {PEMFile, pub.PEM()}} {
		if err := w.write(f.name, f.data); err != nil {
			return nil, nil, err
		}
	}
	entries, warnings, err := l.exportEntries(ctx, w, m, recs, cp)
	if err != nil {
		return nil, nil, err
	}
	if err := exportEvidence(w, entries, opts.Evidence); err != nil {
		return nil, nil, err
	}
	if err := l.exportConsistency(ctx, w, m, c.N, cp, opts.Earlier); err != nil {
		return nil, nil, err
	}
	if err := writeReports(w, m, entries); err != nil {
		return nil, nil, err
	}
	sort.Slice(w.files, func(i, j int) bool { return w.files[i].Path < w.files[j].Path })
	m.Files = w.files
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	env, err := l.key.sign(ManifestType, body)
	if err != nil {
		return nil, nil, err
	}
	envJSON, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return m, warnings, bw.write(ManifestFile, envJSON)
}

// exportEntries writes each entry and its inclusion proof, and returns
// those that read back as entries of this log.
func (l *Log) exportEntries(ctx context.Context, w *hashingWriter, m *Manifest, recs []tandem.AuditRecord, cp []byte) ([]*Entry, []string, error) {
	var entries []*Entry
	var warnings []string
	m.Entries = []ManifestEntry{}
	for _, r := range recs {
		proof, err := l.Proof(ctx, r.Index, cp)
		if err != nil {
			return nil, nil, err
		}
		me := ManifestEntry{Index: r.Index, Path: entryPath(r.Index), Proof: proofPath(r.Index)}
		if err := w.write(me.Path, r.Envelope); err != nil {
			return nil, nil, err
		}
		if err := w.write(me.Proof, proof); err != nil {
			return nil, nil, err
		}
		m.Entries = append(m.Entries, me)
		e, err := openEntry(l.PublicKey(), l.Origin(), r.Index, r.Envelope)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("entry %d: %v", r.Index, err))
			continue
		}
		entries = append(entries, e)
	}
	return entries, warnings, nil
}

// exportEvidence copies every evidence file the entries name, once.
func exportEvidence(w *hashingWriter, entries []*Entry, dir EvidenceDir) error {
	done := map[string]bool{}
	for _, e := range entries {
		for _, ev := range e.Predicate.Evidence {
			h, ok := digestHex(ev.Digest)
			if !ok || done[h] {
				continue
			}
			done[h] = true
			src, err := dir.Path(ev.Digest)
			if err != nil {
				return err
			}
			if err := w.copyEvidence(evidencePath(h), src, h); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return tandem.Errorf(tandem.ENOTFOUND, "audit: entry %d names evidence %s, which %s does not hold", e.Index, ev.Digest, dir)
				}
				return fmt.Errorf("audit: entry %d: %w", e.Index, err)
			}
		}
	}
	return nil
}

// exportConsistency writes, for every checkpoint the log handed out and
// every one given, that checkpoint and the proof that cp extends it.
func (l *Log) exportConsistency(ctx context.Context, w *hashingWriter, m *Manifest, n int64, cp []byte, earlier [][]byte) error {
	kept, err := l.store.AuditCheckpoints(ctx)
	if err != nil {
		return err
	}
	for _, e := range earlier {
		c, err := l.openCheckpoint(e)
		if err != nil {
			return err
		}
		if c.N > n {
			return tandem.Errorf(tandem.EINVALID, "audit: the earlier checkpoint (size %d) is newer than the log (size %d)", c.N, n)
		}
		kept = append(kept, tandem.AuditCheckpoint{Size: c.N, Note: e})
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Size < kept[j].Size })
	m.Consistency = []ManifestConsistency{}
	for i, k := range kept {
		if k.Size == 0 || k.Size >= n || (i > 0 && kept[i-1].Size == k.Size) {
			continue
		}
		proof, err := l.ConsistencyProof(ctx, k.Size, cp)
		if err != nil {
			return err
		}
		mc := ManifestConsistency{Size: k.Size, Checkpoint: checkpointPath(k.Size), Proof: consistencyPath(k.Size)}
		if err := w.write(mc.Checkpoint, k.Note); err != nil {
			return err
		}
		if err := w.write(mc.Proof, proof); err != nil {
			return err
		}
		m.Consistency = append(m.Consistency, mc)
	}
	return nil
}

// createBundle makes a place to write a bundle beside out, and returns a
// function that moves it to out, or removes it after an error.
func createBundle(out string, when time.Time) (bundleWriter, func(error) error, error) {
	if _, err := os.Lstat(out); err == nil {
		return nil, nil, tandem.Errorf(tandem.ECONFLICT, "audit: %s exists: export to a new path", out)
	}
	dir := filepath.Dir(out)
	if strings.HasSuffix(out, ".tar.gz") || strings.HasSuffix(out, ".tgz") {
		f, err := os.CreateTemp(dir, ".export-*")
		if err != nil {
			return nil, nil, err
		}
		w := newTarWriter(f, when)
		return w, func(err error) error {
			if err == nil {
				err = w.close()
			}
			if err == nil {
				err = os.Rename(f.Name(), out)
			}
			if err != nil {
				f.Close()
				os.Remove(f.Name())
			}
			return err
		}, nil
	}
	tmp, err := os.MkdirTemp(dir, ".export-*")
	if err != nil {
		return nil, nil, err
	}
	return dirWriter{tmp}, func(err error) error {
		if err == nil {
			err = os.Rename(tmp, out)
		}
		if err != nil {
			os.RemoveAll(tmp)
		}
		return err
	}, nil
}
