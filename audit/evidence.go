package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tandem-dev/tandem"
)

// EvidenceDir is where evidence files are kept, by the SHA-256 of their
// content: DIR/sha256/<64 hex>. Under tandem serve it is DATA/evidence.
// A file is written once and never changed; the same content is kept once.
type EvidenceDir string

// EvidenceDirIn is the evidence directory of a data directory.
func EvidenceDirIn(dataDir string) EvidenceDir {
	return EvidenceDir(filepath.Join(dataDir, "evidence"))
}

// Put keeps what r holds, at most max bytes (0: no limit), and returns it
// as evidence called name. Screenshots of private previews are private:
// files are readable by their owner only.
func (d EvidenceDir) Put(r io.Reader, name, mediaType string, max int64) (tandem.Evidence, error) {
	dir := filepath.Join(string(d), "sha256")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tandem.Evidence{}, err
	}
	tmp, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return tandem.Evidence{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	src := r
	if max > 0 {
		src = io.LimitReader(r, max+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err != nil {
		return tandem.Evidence{}, fmt.Errorf("audit: keep evidence %q: %w", name, err)
	}
	if max > 0 && n > max {
		return tandem.Evidence{}, tandem.Errorf(tandem.EINVALID, "audit: evidence %q is larger than %d bytes", name, max)
	}
	if err := tmp.Sync(); err != nil {
		return tandem.Evidence{}, err
	}
	if err := tmp.Close(); err != nil {
		return tandem.Evidence{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// Same content, same name: an existing file is the same evidence.
	if err := os.Rename(tmp.Name(), filepath.Join(dir, sum)); err != nil {
		return tandem.Evidence{}, err
	}
	return tandem.Evidence{Digest: "sha256:" + sum, Name: name, MediaType: mediaType, Size: n}, nil
}

// Path is where the evidence with digest ("sha256:<hex>") is kept.
func (d EvidenceDir) Path(digest string) (string, error) {
	h, ok := digestHex(digest)
	if !ok {
		return "", tandem.Errorf(tandem.EINVALID, "audit: evidence digest %q is not sha256:<64 hex>", digest)
	}
	return filepath.Join(string(d), "sha256", h), nil
}

// Open opens the evidence with digest; ENOTFOUND if it is not kept.
func (d EvidenceDir) Open(digest string) (*os.File, error) {
	p, err := d.Path(digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "audit: no evidence %s in %s", digest, d)
	}
	return f, err
}
