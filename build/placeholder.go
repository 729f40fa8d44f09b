package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandem-dev/tandem"
)

// A build that inlines a preview's own values (NEXT_PUBLIC_API_URL:
// https://${PREVIEW_HOST}/api) would otherwise run once per preview. It runs
// once per code instead, with placeholders where those values go; each
// preview gets a copy of the output with the placeholders replaced by its
// own values.

// marker starts or is part of every textual placeholder: lower-case letters
// and digits, so a placeholder is a valid host label and identifier. Found
// in any case outside a whole placeholder, it means the build transformed a
// value (cut a host out of a URL, upper-cased it, escaped it).
const marker = "tndmph7"

var (
	nameToken   = marker + "name"                  // PREVIEW_NAME
	domainToken = marker + "domain.invalid"        // PREVIEW_HOST after the name
	hostToken   = nameToken + "." + domainToken    // PREVIEW_HOST
	soloHost    = marker + "host.invalid"          // PREVIEW_HOST when it is not NAME.DOMAIN
	soloURL     = "https://" + marker + "url.test" // PREVIEW_URL when it does not hold PREVIEW_HOST
	// PR_NUMBER is digits wherever a build reads it (parseInt, Number):
	// its placeholder is too, found only whole.
	prToken = "8675309417"
)

// Replacement turns a placeholder into one preview's value.
type Replacement struct {
	Token string
	Value string
}

// Placeholders returns v with the values that differ from one preview to
// the next (PREVIEW_HOST, PREVIEW_URL, PREVIEW_NAME, PR_NUMBER) replaced by
// placeholders every preview shares, and the replacements that turn what a
// build made with them into v's, in the order they apply. PREVIEW_URL keeps
// its scheme and port (the server's, the same for every preview) around
// the host's placeholder, so that a build that takes the host or the origin
// out of it still finds a placeholder whole.
func Placeholders(v tandem.Vars) (tandem.Vars, []Replacement) {
	ph := v
	var repl []Replacement
	host, name := soloHost, nameToken
	if d, ok := strings.CutPrefix(v.Host, v.Name+"."); ok && v.Name != "" && d != "" {
		host = hostToken
		repl = append(repl, Replacement{hostToken, v.Host}, Replacement{nameToken, v.Name}, Replacement{domainToken, d})
	} else {
		repl = append(repl, Replacement{soloHost, v.Host}, Replacement{nameToken, v.Name})
	}
	ph.Host, ph.Name = host, name
	ph.URL = soloURL
	if scheme, rest, ok := strings.Cut(v.URL, "://"); ok && v.Host != "" {
		if port, ok := strings.CutPrefix(rest, v.Host); ok && (port == "" || port[0] == ':' && !strings.ContainsAny(port, "/?#")) {
			ph.URL = scheme + "://" + host + port
		}
	}
	if ph.URL == soloURL {
		repl = append([]Replacement{{soloURL, v.URL}}, repl...)
	}
	// A preview without a pull request keeps its empty PR_NUMBER: a build
	// may test whether there is one, which no replacement could undo.
	if v.PRNumber != "" {
		ph.PRNumber = prToken
		repl = append(repl, Replacement{prToken, v.PRNumber})
	}
	return ph, repl
}

// replace applies repl to b.
func replace(b []byte, repl []Replacement) []byte {
	for _, r := range repl {
		b = bytes.ReplaceAll(b, []byte(r.Token), []byte(r.Value))
	}
	return b
}

// textTokens are the placeholders that hold the marker, longest first.
var textTokens = []string{hostToken, soloURL, soloHost, domainToken, nameToken}

// scan reports whether b holds a placeholder, and a problem if it holds
// the marker anywhere but inside a whole placeholder: a value the build
// transformed, which no replacement can put right.
func scan(b []byte) (found bool, problem string) {
	found = bytes.Contains(b, []byte(prToken))
	lower := b
	if hasUpper(b) {
		lower = bytes.ToLower(b)
	}
	for i := 0; ; {
		j := bytes.Index(lower[i:], []byte(marker))
		if j < 0 {
			return found, ""
		}
		at := i + j
		if !wholeAt(b, at) {
			return found, fmt.Sprintf("%q", excerpt(b, at))
		}
		found = true
		i = at + len(marker)
	}
}

func hasUpper(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// wholeAt reports whether the marker at b[at:] is part of a whole
// placeholder, as written.
func wholeAt(b []byte, at int) bool {
	for _, t := range textTokens {
		for off := strings.Index(t, marker); off >= 0; {
			if s := at - off; s >= 0 && s+len(t) <= len(b) && string(b[s:s+len(t)]) == t {
				return true
			}
			next := strings.Index(t[off+1:], marker)
			if next < 0 {
				break
			}
			off += 1 + next
		}
	}
	return false
}

// excerpt is what surrounds b[at], for a message.
func excerpt(b []byte, at int) string {
	s, e := max(at-24, 0), min(at+len(marker)+24, len(b))
	return strings.ToValidUTF8(string(b[s:e]), "?")
}

// compressed are suffixes of precompressed copies that servers send in a
// file's place: they would keep the placeholders the file loses.
var compressed = []string{".gz", ".br", ".zst"}

// scanOutputs walks what a build left in outDir (dependency folders left
// out: the install step does not see the placeholders' meaning) and returns
// the files that hold placeholders, relative to outDir, or why the
// placeholders cannot be replaced: a value transformed at build time, a
// binary file that holds one (its lengths may be part of its format), a
// precompressed copy of one, or integrity hashes of the files.
func scanOutputs(outDir string) (files []string, problem string, err error) {
	var integrity string
	err = filepath.WalkDir(outDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || problem != "" {
			return err
		}
		rel, _ := filepath.Rel(outDir, p)
		if d.IsDir() && linked[rel] {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if strings.HasPrefix(d.Name(), "subresource-integrity-manifest") {
			integrity = filepath.ToSlash(rel)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found, bad := scan(b)
		switch {
		case bad != "":
			problem = fmt.Sprintf("%s holds a preview value transformed at build time: %s", filepath.ToSlash(rel), bad)
		case found && bytes.IndexByte(b, 0) >= 0:
			problem = filepath.ToSlash(rel) + " is a binary file that holds a preview value"
		case found:
			for _, suf := range compressed {
				if _, err := os.Lstat(p + suf); err == nil {
					problem = filepath.ToSlash(rel+suf) + " is a compressed copy of a file that holds a preview value"
				}
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err == nil && problem == "" && integrity != "" && len(files) > 0 {
		problem = integrity + " records integrity hashes of files that hold a preview value"
	}
	if problem != "" {
		files = nil
	}
	return files, problem, err
}

// replaced is what a cached output's side file says of its placeholders.
type replaced struct {
	Files []string `json:"files,omitempty"` // relative to the output, slash-separated
}

// replacements returns the files of cached outputs outDir that hold
// placeholders, scanning them the first time, or why they cannot be
// replaced (then remembered in outDir.transformed, and outDir removed).
func replacements(outDir string) ([]string, string, error) {
	if b, err := os.ReadFile(outDir + ".transformed"); err == nil {
		return nil, string(b), nil
	}
	var r replaced
	if b, err := os.ReadFile(outDir + ".replace"); err == nil && json.Unmarshal(b, &r) == nil {
		return r.Files, "", nil
	}
	if _, err := os.Stat(outDir); err != nil {
		return nil, "", nil
	}
	files, problem, err := scanOutputs(outDir)
	if err != nil {
		return nil, "", err
	}
	if problem != "" {
		if err := os.WriteFile(outDir+".transformed", []byte(problem), 0o644); err != nil {
			return nil, "", err
		}
		return nil, problem, os.RemoveAll(outDir)
	}
	b, _ := json.Marshal(replaced{Files: files})
	return files, "", os.WriteFile(outDir+".replace", b, 0o644)
}

// replaceIn replaces the placeholders in files, relative to dir: a work
// tree's copy of the outputs. Each file keeps its mode and times. A path
// that is not a regular file reached without a symbolic link is refused:
// the work tree is the pull request's.
func replaceIn(dir string, files []string, repl []Replacement) error {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for _, rel := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if real, err := filepath.EvalSymlinks(p); err != nil || real != p {
			return fmt.Errorf("replace placeholders: %s is not a file of the outputs", rel)
		}
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("replace placeholders: %s is not a regular file", rel)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, replace(b, repl), fi.Mode().Perm()); err != nil {
			return err
		}
		if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}
