package build

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// skipDirs are never inputs when the directory is not in a git work tree:
// dependency folders and build outputs of the usual tools.
var skipDirs = map[string]bool{
	".git": true, "node_modules": true, ".next": true, "__pycache__": true, ".venv": true,
	"venv": true, ".tandem": true, ".turbo": true, ".cache": true, ".pytest_cache": true,
}

// fileSum is what we remember of an input file, so an unchanged file (same
// size, mode, mtime and inode) is not read again.
type fileSum struct {
	Size  int64  `json:"size"`
	Mode  uint32 `json:"mode"`
	MTime int64  `json:"mtime"`
	Inode uint64 `json:"inode"`
	Sum   string `json:"sum"`
}

// listInputs names the files a build in dir reads, relative to dir: what git
// tracks or would track there (so .gitignore says what is output), or, out of
// a work tree, every file outside the usual output folders.
func listInputs(dir string) ([]string, error) {
	if out, err := exec.Command("git", "-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output(); err == nil {
		var files []string
		for _, f := range bytes.Split(out, []byte{0}) {
			if len(f) > 0 {
				files = append(files, string(f))
			}
		}
		sort.Strings(files)
		return dedupe(files), nil
	}
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && skipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(files)
	return files, err
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Inputs names the files a step in dir reads, relative to dir: what git
// tracks or would track there, or, out of a work tree, every file outside
// the usual output folders.
func Inputs(dir string) ([]string, error) { return listInputs(dir) }

// Digest returns one digest of the content, type and executable bit of
// files under dir.
func Digest(dir string, files []string) (string, error) {
	d, _, err := hashInputs(dir, files, nil)
	return d, err
}

// hashInputs returns one digest for the content of files under dir, reusing
// the sums in known for files whose metadata did not change. It returns the
// sums it used, for next time.
func hashInputs(dir string, files []string, known map[string]fileSum) (string, map[string]fileSum, error) {
	h := sha256.New()
	sums := make(map[string]fileSum, len(files))
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		fi, err := os.Lstat(p)
		if os.IsNotExist(err) {
			// Tracked but deleted in the work tree: an input that changed.
			io.WriteString(h, "deleted "+f+"\n")
			continue
		}
		if err != nil {
			return "", nil, err
		}
		cur := fileSum{Size: fi.Size(), Mode: uint32(fi.Mode()), MTime: fi.ModTime().UnixNano(), Inode: inode(fi)}
		if k, ok := known[f]; ok && k.Size == cur.Size && k.Mode == cur.Mode && k.MTime == cur.MTime && k.Inode == cur.Inode {
			cur.Sum = k.Sum
		} else if cur.Sum, err = sumFile(p, fi); err != nil {
			return "", nil, err
		}
		sums[f] = cur
		io.WriteString(h, f+" "+fi.Mode().Type().String()+" "+cur.Sum+"\n")
	}
	return hex.EncodeToString(h.Sum(nil)), sums, nil
}

func sumFile(p string, fi fs.FileInfo) (string, error) {
	h := sha256.New()
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		io.WriteString(h, target)
	} else {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if _, err := io.Copy(h, f); err != nil {
			return "", err
		}
	}
	// The executable bit matters to a build (a script it runs).
	if fi.Mode().Perm()&0o111 != 0 {
		io.WriteString(h, "+x")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// topLevel returns the names directly in dir that are not among the inputs:
// what a build left there (node_modules, .next). A later run rebuilds if
// one of them is gone.
func topLevel(dir string, inputs []string) []string {
	in := map[string]bool{}
	for _, f := range inputs {
		first, _, _ := strings.Cut(f, "/")
		in[first] = true
	}
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if !in[e.Name()] && e.Name() != ".git" {
			out = append(out, e.Name())
		}
	}
	return out
}
