package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	yaml "go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
	"github.com/tandem-dev/tandem/git"
	"github.com/tandem-dev/tandem/gitea"
	"github.com/tandem-dev/tandem/github"
	"github.com/tandem-dev/tandem/gitlab"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/sqlite"
)

// forgeConfig is one forge in tandem.yaml's forges: where it is, and the
// credentials tandem uses there, each read from a file or the environment.
type forgeConfig struct {
	Name          string     `yaml:"name"`
	Type          string     `yaml:"type"` // github, gitlab or gitea
	URL           string     `yaml:"url"`  // GitLab's or Gitea's root; GitHub Enterprise's API
	User          string     `yaml:"user"` // Gitea: the token's user, for git over HTTPS
	Token         secretRef  `yaml:"token"`
	WebhookSecret secretRef  `yaml:"webhook_secret"`
	App           *githubApp `yaml:"app"` // GitHub: a GitHub App instead of a token

	client forge.Client
}

type githubApp struct {
	ID             int64     `yaml:"id"`
	InstallationID int64     `yaml:"installation_id"`
	PrivateKey     secretRef `yaml:"private_key"`
}

// secretRef says where a secret is: {file: PATH} or {env: NAME}. The value
// never sits in tandem.yaml, nor in a log or a preview's environment.
type secretRef struct {
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

func (s secretRef) set() bool { return s.File != "" || s.Env != "" }

// UnmarshalYAML refuses a secret written in the file itself, without
// repeating it in the error.
func (s *secretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("a secret is given as {file: PATH} or {env: NAME}, never written in this file")
	}
	type plain secretRef
	return n.Decode((*plain)(s))
}

// read returns the secret, without the newline files end with.
func (s secretRef) read(cfgFile string) (string, error) {
	switch {
	case s.File != "":
		path := s.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(cfgFile), path) // like data: relative to the file
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("cannot read %s", s.File)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("$%s is not set", s.Env)
		}
		return v, nil
	}
	return "", nil
}

// repoForgeConfig is a repository's forge block: where it lives on which
// forge, and which of its pull requests get previews.
type repoForgeConfig struct {
	Name       string   `yaml:"name"`    // a forge of forges
	Project    string   `yaml:"project"` // "alice/shop"
	Previews   *bool    `yaml:"previews"`
	Labels     []string `yaml:"labels"`
	Paths      []string `yaml:"paths"`
	AllowLabel string   `yaml:"allow_label"`
	// ForkSecrets lets allowed forks' previews have the repository's
	// secrets; false by default, the lesson of Coolify #6546.
	ForkSecrets bool `yaml:"fork_secrets"`
	// Clone fetches the repository with the forge's credentials (a
	// private repository); default true when a forge is named.
	Clone *bool `yaml:"clone"`
}

// serviceSourceConfig is a service built from another repository.
type serviceSourceConfig struct {
	Repo string `yaml:"repo"`
	Path string `yaml:"path"`
}

var forgeTypes = map[string]bool{"github": true, "gitlab": true, "gitea": true}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkForges checks forges and the repositories' forge blocks, services
// and secrets.
func (c *serveConfig) checkForges(fail failFunc) {
	names := map[string]bool{}
	for i, f := range c.Forges {
		line := c.line("forges")
		if n := c.node("forges"); n != nil && i < len(n.Content) {
			line = n.Content[i].Line
		}
		switch {
		case !repoName.MatchString(f.Name):
			fail(line, "a forge needs a name: letters, digits, dots, dashes and underscores")
		case names[f.Name]:
			fail(line, "forge %q is defined twice", f.Name)
		}
		names[f.Name] = true
		if !forgeTypes[f.Type] {
			fail(line, "forge %q: type must be github, gitlab or gitea, not %q", f.Name, f.Type)
		}
		if !f.WebhookSecret.set() {
			fail(line, "forge %q needs webhook_secret ({file: PATH} or {env: NAME}): unsigned webhooks are refused", f.Name)
		}
		if !f.Token.set() && (f.Type != "github" || f.App == nil) {
			fail(line, "forge %q needs a token ({file: PATH} or {env: NAME})", f.Name)
		}
		if f.Type != "github" && f.URL == "" && f.Type != "gitlab" {
			fail(line, "forge %q needs its url", f.Name)
		}
	}
	repos := map[string]repoConfig{}
	for _, r := range c.Repos {
		repos[r.Name] = r
	}
	for _, r := range c.Repos {
		if r.Forge != nil {
			if !names[r.Forge.Name] {
				fail(r.line, "repository %q: forge %q is not in forges", r.Name, r.Forge.Name)
			}
			if strings.Count(r.Forge.Project, "/") < 1 {
				fail(r.line, "repository %q: forge project %q is not owner/name", r.Name, r.Forge.Project)
			}
		}
		for svc, s := range r.Services {
			if _, ok := repos[s.Repo]; !ok || s.Repo == r.Name {
				fail(r.line, "repository %q: service %s comes from %q, which is not another registered repository", r.Name, svc, s.Repo)
			}
		}
		for name, s := range r.Secrets {
			if !envName.MatchString(name) || !s.set() {
				fail(r.line, "repository %q: secret %q needs a variable name and {file: PATH} or {env: NAME}", r.Name, name)
			}
		}
	}
}

// loadForges reads the forges' credentials and makes their clients.
func loadForges(cfg *serveConfig) error {
	for i := range cfg.Forges {
		f := &cfg.Forges[i]
		secret, err := f.WebhookSecret.read(cfg.file)
		if err != nil {
			return tandem.Errorf(tandem.EINVALID, "forge %s: webhook_secret: %v", f.Name, err)
		}
		token, err := f.Token.read(cfg.file)
		if err != nil {
			return tandem.Errorf(tandem.EINVALID, "forge %s: token: %v", f.Name, err)
		}
		switch f.Type {
		case "github":
			gc := github.Config{API: f.URL, WebhookSecret: []byte(secret), Token: token}
			if f.App != nil {
				key, err := f.App.PrivateKey.read(cfg.file)
				if err != nil {
					return tandem.Errorf(tandem.EINVALID, "forge %s: app private_key: %v", f.Name, err)
				}
				gc.App = &github.App{ID: f.App.ID, InstallationID: f.App.InstallationID, PrivateKey: []byte(key)}
			}
			f.client, err = github.New(gc)
		case "gitlab":
			f.client, err = gitlab.New(gitlab.Config{URL: f.URL, Token: token, WebhookSecret: []byte(secret)})
		case "gitea":
			f.client, err = gitea.New(gitea.Config{URL: f.URL, Token: token, User: f.User, WebhookSecret: []byte(secret)})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// forgeClient returns the client of the forge called name, or nil.
func (c *serveConfig) forgeClient(name string) forge.Client {
	for _, f := range c.Forges {
		if f.Name == name {
			return f.client
		}
	}
	return nil
}

// withForge adds to a repository what its forge block, services and
// secrets say: the pull request ref's shape, clone credentials, services
// from other repositories, and the server's values for its stack.
func withForge(cfg *serveConfig, r repoConfig, pr preview.Repo) (preview.Repo, error) {
	pr.Services = map[string]preview.ServiceSource{}
	for svc, s := range r.Services {
		pr.Services[svc] = preview.ServiceSource{Repo: s.Repo, Path: s.Path}
	}
	pr.Env = map[string]string{}
	for name, s := range r.Secrets {
		v, err := s.read(cfg.file)
		if err != nil {
			return pr, tandem.Errorf(tandem.EINVALID, "repository %s: secret %s: %v", r.Name, name, err)
		}
		pr.Env[name] = v
	}
	if r.Forge == nil {
		return pr, nil
	}
	pr.ForkEnv = r.Forge.ForkSecrets
	c := cfg.forgeClient(r.Forge.Name)
	if c == nil {
		return pr, nil
	}
	pr.PRRef = forge.PRRef(c.Kind())
	if creds, ok := c.(forge.Credentials); ok && (r.Forge.Clone == nil || *r.Forge.Clone) {
		if m, ok := pr.Source.(*git.Mirror); ok {
			m.Credentials = creds.GitAuthorization
		}
	}
	return pr, nil
}

// newForgeService is the webhooks' queue and reporter over the manager.
func newForgeService(cfg *serveConfig, store *sqlite.DB, m *preview.Manager, reg prometheus.Registerer, logger *slog.Logger) *forge.Service {
	clients := map[string]forge.Client{}
	for _, f := range cfg.Forges {
		clients[f.Name] = f.client
	}
	var repos []forge.Repo
	for _, r := range cfg.Repos {
		if r.Forge == nil {
			continue
		}
		repos = append(repos, forge.Repo{Name: r.Name, Forge: r.Forge.Name, Project: r.Forge.Project,
			Previews: r.Compose != "" && (r.Forge.Previews == nil || *r.Forge.Previews),
			Labels:   r.Forge.Labels, Paths: r.Forge.Paths, AllowLabel: r.Forge.AllowLabel, ForkSecrets: r.Forge.ForkSecrets})
	}
	return forge.New(forge.Options{
		Store: store, Previews: m, Forges: clients, Repos: repos, Logger: logger, Metrics: reg,
		AccessEvent: func(ctx context.Context, e tandem.AccessEvent) {
			if _, err := store.AddAccessEvent(ctx, e); err != nil {
				logger.Error("access event", "kind", e.Kind, "err", err)
			}
		},
	})
}

// withHooks answers POST /hooks/NAME with forge NAME's webhook handler,
// before the API's authentication: a webhook's credential is its
// signature, never an API token.
func withHooks(cfg *serveConfig, svc *forge.Service, next func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	hooks := map[string]http.Handler{}
	for _, f := range cfg.Forges {
		hooks["/hooks/"+f.Name] = svc.Handler(f.Name)
	}
	return func(h http.Handler) http.Handler {
		inner := next(h)
		// Every other request reaches the API as it came.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hook, ok := hooks[r.URL.Path]; ok {
				hook.ServeHTTP(w, r)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
}

// suppliesServices reports whether another repository builds a service
// from repo: such a repository needs no stack file of its own.
func (c *serveConfig) suppliesServices(repo string) bool {
	for _, r := range c.Repos {
		for _, s := range r.Services {
			if s.Repo == repo && r.Name != repo {
				return true
			}
		}
	}
	return false
}
