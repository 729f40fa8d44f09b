package preview

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestOverridesFile(t *testing.T) {
	dir := t.TempDir()
	if o, err := ReadOverrides(dir); o != nil || err != nil {
		t.Errorf("no file: %v %v", o, err)
	}
	write := func(s string) { os.WriteFile(filepath.Join(dir, OverridesFile), []byte(s), 0o644) }
	write("api: {repo: backend, pr: 515}\nworker: {repo: backend, ref: feature/queues}\n")
	o, err := ReadOverrides(dir)
	if err != nil || o["api"] != (Override{Repo: "backend", PR: 515}) || o["worker"] != (Override{Repo: "backend", Ref: "feature/queues"}) {
		t.Errorf("overrides: %+v %v", o, err)
	}
	for name, bad := range map[string]string{
		"both":          "api: {repo: backend, pr: 1, ref: main}",
		"neither":       "api: {repo: backend}",
		"negative":      "api: {repo: backend, pr: -1}",
		"unknown field": "api: {repo: backend, pr: 1, url: http://evil}",
		"not a map":     "- api",
		"too large":     "# " + strings.Repeat("x", 70<<10) + "\napi: {pr: 1}",
	} {
		write(bad)
		if _, err := ReadOverrides(dir); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The server's values reach a stack's interpolation for trusted code; a
// fork's preview gets them only if the repository's fork_secrets says so,
// and generated secrets are never displaced by them.
func TestServerEnvForks(t *testing.T) {
	repo := Repo{Env: map[string]string{"STRIPE_KEY": "sk_test", "SESSION_SECRET": "from-server"}}
	generated := map[string]string{"SESSION_SECRET": "generated"}
	for _, tc := range []struct {
		untrusted, forkEnv bool
		want               string
	}{
		{false, false, "sk_test"},
		{true, false, ""},
		{true, true, "sk_test"},
	} {
		repo.ForkEnv = tc.forkEnv
		got := serverEnv(repo, &tandem.Preview{Untrusted: tc.untrusted}, generated)
		if got["STRIPE_KEY"] != tc.want || got["SESSION_SECRET"] != "generated" {
			t.Errorf("untrusted %v, fork_secrets %v: %v", tc.untrusted, tc.forkEnv, got)
		}
		if (tandem.Vars{Secrets: got}).Env()["STRIPE_KEY"] != tc.want {
			t.Errorf("untrusted %v, fork_secrets %v: not what the stack interpolates", tc.untrusted, tc.forkEnv)
		}
	}
	if len(generated) != 1 {
		t.Errorf("the preview's own secrets were changed: %v", generated)
	}
}

func TestDependsOn(t *testing.T) {
	p := &tandem.Preview{SourceRefs: map[string]string{"api": "backend@refs/pull/515/head", "worker": "jobs@main"}}
	for _, tc := range []struct {
		repo, ref string
		want      bool
	}{
		{"backend", "refs/pull/515/head", true},
		{"backend", "refs/pull/516/head", false},
		{"jobs", "main", true},
		{"shop", "refs/pull/515/head", false},
	} {
		if DependsOn(p, tc.repo, tc.ref) != tc.want {
			t.Errorf("%s@%s: want %v", tc.repo, tc.ref, tc.want)
		}
	}
}
