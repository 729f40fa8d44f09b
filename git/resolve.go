package git

import (
	"context"
	"strings"

	"github.com/tandem-dev/tandem"
)

// Resolve fetches the repository and returns the full commit ref names.
// ref is a branch ("main", "refs/heads/main"), a tag, any other full ref
// ("refs/pull/7/head", or "pull/7/head"), or a commit SHA, full or
// abbreviated. Where a name could be both, a branch wins over a tag and
// either over a commit. branch is the branch's name when ref names one
// (for GIT_BRANCH), "" otherwise.
//
// A full SHA the mirror already has needs no fetch: commits never change.
// An unknown ref is ENOTFOUND; one that is not a ref name is EINVALID.
func (m *Mirror) Resolve(ctx context.Context, ref string) (commit, branch string, err error) {
	if !ValidRef(ref) {
		return "", "", tandem.Errorf(tandem.EINVALID, "repository %s: %q is not a branch, tag, ref or commit", m.Name, ref)
	}
	if isHex(ref) && (len(ref) == 40 || len(ref) == 64) && m.cloned() {
		if sha, _ := m.commit(ctx, ref); sha != "" {
			return sha, "", nil
		}
	}
	if err := m.sync(ctx); err != nil {
		return "", "", err
	}
	candidates := []string{ref}
	if !strings.HasPrefix(ref, "refs/") {
		candidates = []string{"refs/heads/" + ref, "refs/tags/" + ref, "refs/" + ref}
		if isHex(ref) {
			candidates = append(candidates, ref)
		}
	}
	var in strings.Builder
	for _, c := range candidates {
		in.WriteString(c + "^{commit}\n")
	}
	// One process for every candidate; ^{commit} peels annotated tags.
	c := m.git("cat-file", "--batch-check=%(objectname)")
	c.stdin = strings.NewReader(in.String())
	out, err := c.run(ctx)
	if err != nil {
		return "", "", err
	}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case i >= len(candidates):
		case strings.HasSuffix(line, " ambiguous"):
			return "", "", tandem.Errorf(tandem.EINVALID, "repository %s: %q is an ambiguous commit: give more of it", m.Name, ref)
		case strings.HasSuffix(line, " missing"):
		case isHex(line):
			branch, _ := strings.CutPrefix(candidates[i], "refs/heads/")
			if branch == candidates[i] {
				branch = ""
			}
			return line, branch, nil
		}
	}
	return "", "", tandem.Errorf(tandem.ENOTFOUND, "repository %s has no branch, tag or commit %q", m.Name, ref)
}

// commit returns the full SHA of the commit sha abbreviates, "" if the
// mirror does not have it.
func (m *Mirror) commit(ctx context.Context, sha string) (string, error) {
	out, err := m.git("rev-parse", "--verify", "--quiet", "--end-of-options", sha+"^{commit}").run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		return "", nil // --quiet: a missing commit is exit 1 with nothing said
	}
	return strings.TrimSpace(out), nil
}

// ValidRef accepts ref names and SHAs and refuses the rest of git's
// revision syntax (main~1, HEAD@{2}, a:path), options ("-x") and what a
// batch of names on standard input cannot carry (spaces, newlines).
func ValidRef(ref string) bool {
	if ref == "" || ref[0] == '-' || ref[0] == '/' || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.Contains(ref, "//") {
		return false
	}
	for _, r := range ref {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
