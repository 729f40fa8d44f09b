package audit

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A bundle's layout. Every file but the manifest is listed in the manifest
// with its SHA-256; the manifest is a DSSE envelope signed by the log's key.
const (
	ManifestFile   = "manifest.dsse.json"
	CheckpointFile = "checkpoint" // the signed checkpoint every proof is against
	VerifierFile   = "log.pub"    // the key as a note verifier key
	PEMFile        = "log.pem"    // the same key, PKIX PEM
	OSCALFile      = "assessment-results.json"
	ReportFile     = "report.html"

	// ManifestType is the manifest envelope's DSSE payload type.
	ManifestType = "application/vnd.tandem.audit-bundle+json"
	// BundleType is the manifest's "type".
	BundleType = "https://tandem.dev/audit-bundle/v1"
)

func entryPath(i int64) string      { return fmt.Sprintf("entries/%08d.dsse.json", i) }
func proofPath(i int64) string      { return fmt.Sprintf("proofs/%08d.tlog-proof", i) }
func checkpointPath(n int64) string { return fmt.Sprintf("checkpoints/%08d", n) }
func consistencyPath(n int64) string {
	return fmt.Sprintf("consistency/%08d.tlog-witness", n)
}
func evidencePath(hexDigest string) string { return "evidence/sha256/" + hexDigest }

// Manifest says what a bundle holds; it is signed, so a file removed,
// added or changed shows.
type Manifest struct {
	Type       string    `json:"type"`   // BundleType
	Origin     string    `json:"origin"` // the log's
	Exported   time.Time `json:"exported"`
	Selection  Selection `json:"selection"`
	Checkpoint struct {
		Size int64  `json:"size"`
		Root string `json:"root"` // base64, as in the checkpoint
	} `json:"checkpoint"`
	Entries     []ManifestEntry       `json:"entries"`     // by index
	Consistency []ManifestConsistency `json:"consistency"` // by size
	Files       []FileDigest          `json:"files"`       // every file but the manifest, by path
}

// Selection is what was exported.
type Selection struct {
	Preview string    `json:"preview,omitempty"`
	Repo    string    `json:"repo,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	// Complete: every entry of the log up to the checkpoint is in the
	// bundle, which verify then checks.
	Complete bool `json:"complete"`
}

// ManifestEntry places one log entry and its inclusion proof.
type ManifestEntry struct {
	Index int64  `json:"index"`
	Path  string `json:"path"`
	Proof string `json:"proof"`
}

// ManifestConsistency places an earlier checkpoint of the log and the proof
// that the bundle's checkpoint extends it.
type ManifestConsistency struct {
	Size       int64  `json:"size"`
	Checkpoint string `json:"checkpoint"`
	Proof      string `json:"proof"`
}

// FileDigest is one file of a bundle and its digest.
type FileDigest struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// bundleWriter writes a bundle's files: to a directory, or a .tar.gz.
type bundleWriter interface {
	write(name string, data []byte) error
	copy(name, src string) error // a file from disk, such as evidence
	close() error
}

// dirWriter writes a bundle as a directory. Bundles hold evidence from
// private previews: they are their owner's to hand on.
type dirWriter struct{ dir string }

func (w dirWriter) write(name string, data []byte) error {
	p := filepath.Join(w.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o600)
}

func (w dirWriter) copy(name, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	p := filepath.Join(w.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (w dirWriter) close() error { return nil }

// tarWriter writes a bundle as a gzip-compressed tar, with fixed modes and
// times so that the same export makes the same archive.
type tarWriter struct {
	f    *os.File
	gz   *gzip.Writer
	tw   *tar.Writer
	when time.Time
	dirs map[string]bool
}

func newTarWriter(f *os.File, when time.Time) *tarWriter {
	gz := gzip.NewWriter(f)
	return &tarWriter{f: f, gz: gz, tw: tar.NewWriter(gz), when: when, dirs: map[string]bool{}}
}

func (w *tarWriter) put(name string, size int64, r io.Reader) error {
	if err := w.dirsFor(name); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: w.when, Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(w.tw, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s changed while it was read", name)
	}
	return err
}

// dirsFor writes the headers of name's directories not written yet,
// outermost first.
func (w *tarWriter) dirsFor(name string) error {
	var missing []string
	for d := path.Dir(name); d != "." && !w.dirs[d]; d = path.Dir(d) {
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		w.dirs[missing[i]] = true
		if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: missing[i] + "/", Mode: 0o700, ModTime: w.when, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	return nil
}

func (w *tarWriter) write(name string, data []byte) error {
	return w.put(name, int64(len(data)), strings.NewReader(string(data)))
}

func (w *tarWriter) copy(name, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	return w.put(name, fi.Size(), in)
}

func (w *tarWriter) close() error {
	if err := w.tw.Close(); err != nil {
		return err
	}
	if err := w.gz.Close(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	return w.f.Close()
}

// hashingWriter records each file's digest for the manifest.
type hashingWriter struct {
	bundleWriter
	files []FileDigest
}

func (w *hashingWriter) write(name string, data []byte) error {
	sum := sha256.Sum256(data)
	w.files = append(w.files, FileDigest{Path: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))})
	return w.bundleWriter.write(name, data)
}

// copyEvidence copies an evidence file whose digest is its name, checking
// it on the way: a kept file that changed is not exported as if it had not.
func (w *hashingWriter) copyEvidence(name, src, wantHex string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantHex {
		return fmt.Errorf("evidence %s was altered in the data directory: its content's sha256 is %s", src, got)
	}
	w.files = append(w.files, FileDigest{Path: name, SHA256: wantHex, Size: n})
	return w.bundleWriter.copy(name, src)
}

// parseIndex reads the number in a bundle path such as entries/00000042.dsse.json.
func parseIndex(name, prefix, suffix string) (int64, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, suffix); !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}
