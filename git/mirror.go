package git

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// refspecs are what a mirror holds: branches, tags and GitHub's pull
// request heads. A remote without refs/pull/* is no error.
var refspecs = []string{
	"+refs/heads/*:refs/heads/*",
	"+refs/tags/*:refs/tags/*",
	"+refs/pull/*/head:refs/pull/*/head",
	"+refs/merge-requests/*/head:refs/merge-requests/*/head", // GitLab's
}

// Mirror is a registered repository, cloned once (git clone --mirror) into
// the data directory and fetched again each time a ref is resolved (but
// for a full commit SHA it already has).
// Previews' work trees are git worktrees of the mirror: they share its
// objects, so a checkout costs the files alone.
//
// Make one with NewMirror. It is safe for concurrent use; fetches into one
// mirror are serialised, also across processes (lock files beside Dir).
type Mirror struct {
	Name string // the repository's name in tandem's config, for messages
	URL  string // a git URL or a local path (a bare repository or a work tree)
	Dir  string // the bare mirror: DATA/repos/NAME.git

	fetching  chan struct{}       // held while cloning or fetching
	worktrees chan struct{}       // held while adding or removing worktrees
	fetched   time.Time           // when the last successful fetch began; under fetching
	show      func(string) string // from redactor

	// Credentials, if set, returns the Authorization header's value
	// ("Basic ...", "Bearer ...") for fetching over HTTPS: a private
	// repository's token, a GitHub App's installation token. It is asked
	// at every fetch (tokens expire) and reaches git through its
	// environment, never its command line, a file or a message.
	Credentials func(context.Context) (string, error)
}

var _ tandem.Source = (*Mirror)(nil)

// NewMirror returns the mirror of url at dir; nothing is cloned until it is
// first used. A relative local path is made absolute, so that it means the
// same thing to every git command (submodules' relative URLs resolve
// against it from inside worktrees).
func NewMirror(name, url, dir string) *Mirror {
	if isLocal(url) {
		if abs, err := filepath.Abs(url); err == nil {
			url = abs
		}
	}
	return &Mirror{
		Name: name, URL: url, Dir: dir,
		fetching:  make(chan struct{}, 1),
		worktrees: make(chan struct{}, 1),
		show:      redactor(url),
	}
}

// isLocal tells a path from a URL the way git does: "host:path" (no slash
// before the colon) is SSH.
func isLocal(u string) bool {
	if strings.Contains(u, "://") {
		return false
	}
	colon := strings.IndexByte(u, ':')
	return colon < 0 || strings.Contains(u[:colon], "/")
}

// git returns a command run against the mirror. --git-dir, not -C: if Dir
// is not a repository git must fail, not find one in a parent directory.
func (m *Mirror) git(args ...string) command {
	return command{args: append([]string{"--git-dir=" + m.Dir}, args...), show: m.show}
}

// cloned reports whether Dir holds a mirror. A clone is renamed into place
// whole, so its HEAD is there or nothing is.
func (m *Mirror) cloned() bool {
	_, err := os.Stat(filepath.Join(m.Dir, "HEAD"))
	return err == nil
}

// sync clones the mirror or fetches into it. Callers that arrive while a
// fetch runs wait for it and then fetch again, since it may have begun
// before what they want was pushed; callers that arrive together share one.
func (m *Mirror) sync(ctx context.Context) error {
	arrived := time.Now()
	unlock, err := m.lockFetch(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if m.fetched.After(arrived) {
		return nil
	}
	began := time.Now()
	if m.cloned() {
		err = m.fetch(ctx)
	} else {
		err = m.clone(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return failed(tandem.EUNAVAILABLE, err, "repository %s: cannot fetch from %s", m.Name, m.show(m.URL))
	}
	m.fetched = began
	return nil
}

func (m *Mirror) fetch(ctx context.Context) error {
	// A fetch checks what every worktree's HEAD names, and a worktree being
	// added has a HEAD of zeros for a moment ("bad object
	// worktrees/src/HEAD"): no worktree is added meanwhile.
	unlock, err := m.lockWorktrees(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// The URL comes from tandem's config each time, so a repository that
	// moved is fetched from its new home; origin's URL is kept in step
	// because submodules' relative URLs resolve against it.
	if _, err := m.git("config", "--", "remote.origin.url", m.URL).run(ctx); err != nil {
		return err
	}
	fetch := m.git(append([]string{"fetch", "--prune", "--quiet", "--", m.URL}, refspecs...)...)
	if fetch.env, err = m.credentialEnv(ctx); err != nil {
		return err
	}
	_, err = fetch.run(ctx)
	return err
}

// credentialEnv gives git the Authorization header as configuration in
// its environment (GIT_CONFIG_COUNT, git 2.31 and later): other users see
// neither a process's environment nor a file, as they would an argument.
func (m *Mirror) credentialEnv(ctx context.Context) ([]string, error) {
	if m.Credentials == nil {
		return nil, nil
	}
	v, err := m.Credentials(ctx)
	if err != nil {
		return nil, failed(tandem.EUNAVAILABLE, err, "repository %s: credentials", m.Name)
	}
	if v == "" || strings.ContainsAny(v, "\r\n") {
		return nil, nil
	}
	return []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: " + v}, nil
}

// clone clones into a temporary directory beside Dir and renames it into
// place, so that a crash or a cancel never leaves a half clone that looks
// whole.
func (m *Mirror) clone(ctx context.Context) error {
	parent, base := filepath.Split(m.Dir)
	stale, _ := filepath.Glob(filepath.Join(parent, base+".clone-*"))
	for _, dir := range stale { // left by a crash; we hold the lock
		os.RemoveAll(dir)
	}
	tmp, err := os.MkdirTemp(parent, base+".clone-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	env, err := m.credentialEnv(ctx)
	if err != nil {
		return err
	}
	if _, err := (command{args: []string{"clone", "--mirror", "--quiet", "--", m.URL, tmp}, show: m.show, env: env}).run(ctx); err != nil {
		return err
	}
	into := &Mirror{Dir: tmp, show: m.show}
	if err := into.trim(ctx); err != nil {
		return err
	}
	return os.Rename(tmp, m.Dir)
}

// trim makes a fresh clone hold what later fetches keep up to date and
// nothing else: --mirror copies every ref (GitHub's refs/pull/*/merge, a
// work tree's refs/remotes/* and refs/stash), and those would then go stale
// while still resolving.
func (m *Mirror) trim(ctx context.Context) error {
	if _, err := m.git("config", "--unset-all", "remote.origin.fetch").run(ctx); err != nil {
		return err
	}
	for _, spec := range refspecs {
		if _, err := m.git("config", "--add", "remote.origin.fetch", spec).run(ctx); err != nil {
			return err
		}
	}
	out, err := m.git("for-each-ref", "--format=%(refname)").run(ctx)
	if err != nil {
		return err
	}
	var del strings.Builder
	for _, ref := range strings.Fields(out) {
		if !kept(ref) {
			fmt.Fprintf(&del, "delete %s\n", ref)
		}
	}
	if del.Len() == 0 {
		return nil
	}
	c := m.git("update-ref", "--stdin")
	c.stdin = strings.NewReader(del.String())
	_, err = c.run(ctx)
	return err
}

// kept reports whether ref is one that refspecs fetch.
func kept(ref string) bool {
	if strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/") {
		return true
	}
	pr, ok := strings.CutPrefix(ref, "refs/pull/")
	if !ok {
		pr, ok = strings.CutPrefix(ref, "refs/merge-requests/")
	}
	return ok && strings.HasSuffix(pr, "/head") && strings.Count(pr, "/") == 1
}

// failed wraps err with a code and a message.
func failed(code string, err error, format string, args ...any) error {
	return &tandem.Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}
