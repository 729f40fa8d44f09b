// Package git gives previews their code: a mirror clone per registered
// repository and a git worktree per preview at its commit.
//
// It drives the git command line rather than a Go implementation of git:
// worktrees, fetches of refs/pull/*, a fetch that fails halfway, LFS
// filters, proxies, SSH keys and credential helpers are things the git
// people already have, configured as they like it, does right. A library
// would redo each of them and still miss the one a user relies on.
package git

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// overrides are -c settings given to every git command. The user's and the
// system's config stay in force (credential helpers, url.insteadOf, proxies,
// LFS filters are wanted); these override what would change what a worktree
// holds or make git do more than asked.
var overrides = []string{
	"-c", "core.hooksPath=/dev/null", // a global hooks dir must not run on our checkouts
	"-c", "core.autocrlf=false", // files as committed: services run from them
	"-c", "core.fsmonitor=false", // no file-watching daemon per worktree
	"-c", "submodule.recurse=false", // submodules only when Checkout asks for them
	"-c", "advice.detachedHead=false",
}

// localEnv are the variables that point git at another repository. They
// are set when tandem itself runs from a git hook or under a test harness,
// and would make our commands act on that repository instead.
var localEnv = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
	"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_IMPLICIT_WORK_TREE",
	"GIT_GRAFT_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
	"GIT_SHALLOW_FILE", "GIT_NAMESPACE", "GIT_QUARANTINE_PATH",
}

func environ() []string {
	env := make([]string, 0, len(os.Environ())+4)
next:
	for _, kv := range os.Environ() {
		for _, k := range localEnv {
			if strings.HasPrefix(kv, k+"=") {
				continue next
			}
		}
		env = append(env, kv)
	}
	return append(env,
		"GIT_TERMINAL_PROMPT=0", // fail rather than wait for a password nobody types
		"GCM_INTERACTIVE=never", // the same for Git Credential Manager's windows
		"LC_ALL=C",              // output and messages we can parse
	)
}

// command is one git invocation.
type command struct {
	dir   string              // the working directory; "" for the process's own
	args  []string            // after git's global options
	stdin io.Reader           // nil for none
	env   []string            // added to the environment: credentials, never in args
	show  func(string) string // hides credentials in what it says; from redactor
}

// run runs git and returns its standard output. A failure carries the
// command and git's trimmed standard error; a canceled ctx returns an error
// that wraps ctx.Err().
func (c command) run(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append(append([]string(nil), overrides...), c.args...)...)
	cmd.Dir = c.dir
	cmd.Env = append(environ(), c.env...)
	cmd.Stdin = c.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	detach(cmd)
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("%s: %w", c, ctx.Err())
	}
	if err != nil {
		msg := tail(strings.TrimSpace(stderr.String()), 2000)
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s: %s", c, c.show(msg))
	}
	return stdout.String(), nil
}

// String is the command as a person would type it, without our -c options.
func (c command) String() string {
	return c.show("git " + strings.Join(c.args, " "))
}

// tail keeps the end of s, where git says what finally went wrong.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// redactor returns a function that hides the credentials of rawURL
// (https://user:token@host/...) wherever they appear: error messages end
// up in the API and in logs.
func redactor(rawURL string) func(string) string {
	same := func(s string) string { return s }
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return same
	}
	_, hasPassword := u.User.Password()
	if !hasPassword && u.Scheme != "http" && u.Scheme != "https" {
		return same // ssh://git@host: a user name, not a secret
	}
	safe := *u
	safe.User = url.User("xxxxx")
	return func(s string) string {
		s = strings.ReplaceAll(s, rawURL, safe.String())
		return strings.ReplaceAll(s, u.User.String()+"@", "xxxxx@")
	}
}
