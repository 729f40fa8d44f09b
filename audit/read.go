package audit

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits on what a bundle may hold, so that a hostile one cannot exhaust
// memory: files other than evidence are read whole, evidence is hashed as
// it streams by.
const (
	maxFileSize  = 16 << 20  // one file other than evidence
	maxKeptBytes = 512 << 20 // all of them together
	maxFiles     = 1 << 21
)

// bundleFile is one file of a bundle as read.
type bundleFile struct {
	size int64
	sum  [sha256.Size]byte
	data []byte // nil for evidence
}

// bundle is a bundle's files by slash-separated path.
type bundle map[string]*bundleFile

// readBundle reads a bundle: a directory, or a tar file, gzip-compressed
// or not.
func readBundle(p string) (bundle, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return readDir(p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readArchive(f)
}

// readArchive reads a tar stream, gunzipping it first if it is compressed.
func readArchive(r io.Reader) (bundle, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("not a gzip file: %w", err)
		}
		defer gz.Close()
		return readTar(gz)
	}
	return readTar(br)
}

func readTar(r io.Reader) (bundle, error) {
	b := bundle{}
	var kept int64
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %w", err)
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return nil, err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%s: not a regular file (tar type %q): a bundle holds only files", name, h.Typeflag)
		}
		if err := b.add(name, tr, &kept); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// readDir reads a bundle directory, without following symbolic links.
func readDir(dir string) (bundle, error) {
	b := bundle{}
	var kept int64
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file: a bundle holds only files", p)
		}
		f, err := root.Open(filepath.FromSlash(p))
		if err != nil {
			return err
		}
		defer f.Close()
		return b.add(p, f, &kept)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// cleanName checks a path from an archive: relative, clean, inside it.
func cleanName(name string) (string, error) {
	n := strings.TrimSuffix(strings.TrimPrefix(name, "./"), "/")
	if n == "" || !fs.ValidPath(n) || path.Clean(n) != n || strings.Contains(n, "\\") {
		return "", fmt.Errorf("%q: not a plain path inside the bundle", name)
	}
	return n, nil
}

// streamed are the files verification only hashes: evidence, which may
// be large, and the reports derived from the entries.
func streamed(name string) bool {
	return strings.HasPrefix(name, "evidence/") || name == OSCALFile || name == ReportFile
}

// add reads one file, keeping its content unless it is streamed.
func (b bundle) add(name string, r io.Reader, kept *int64) error {
	if _, dup := b[name]; dup {
		return fmt.Errorf("%s: twice in the bundle", name)
	}
	if len(b) >= maxFiles {
		return errors.New("more files than a bundle may hold")
	}
	h := sha256.New()
	f := &bundleFile{}
	if streamed(name) {
		n, err := io.Copy(h, r)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		f.size = n
	} else {
		data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if len(data) > maxFileSize {
			return fmt.Errorf("%s: larger than %d bytes", name, maxFileSize)
		}
		if *kept += int64(len(data)); *kept > maxKeptBytes {
			return fmt.Errorf("%s: the bundle's files add up to more than %d bytes", name, maxKeptBytes)
		}
		h.Write(data)
		f.data, f.size = data, int64(len(data))
	}
	copy(f.sum[:], h.Sum(nil))
	b[name] = f
	return nil
}
