package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/access"
	"github.com/tandem-dev/tandem/mail"
)

// authConfig is tandem.yaml's auth: the sign-in host, and how people sign
// in there.
type authConfig struct {
	Host       string        `yaml:"host"` // default auth.DOMAIN
	SessionTTL duration      `yaml:"session_ttl"`
	CodeTTL    duration      `yaml:"code_ttl"`
	MaxTries   int           `yaml:"max_tries"`
	OIDC       *oidcConfig   `yaml:"oidc"`
	OAuth      []oauthConfig `yaml:"oauth"`
}

// oidcConfig is single sign-on. The client secret is read from a file or
// an environment variable, never written in tandem.yaml.
type oidcConfig struct {
	Issuer           string   `yaml:"issuer"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	Name             string   `yaml:"name"`
	Scopes           []string `yaml:"scopes"`
	GroupsClaim      string   `yaml:"groups_claim"`
}

// oauthConfig is an OAuth provider whose callbacks tandem relays to
// previews.
type oauthConfig struct {
	Provider     string `yaml:"provider"`
	AuthorizeURL string `yaml:"authorize_url"`
	CallbackPath string `yaml:"callback_path"`
}

// smtpConfig is how tandem sends mail: sign-in codes, share links.
type smtpConfig struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	TLS          string `yaml:"tls"` // starttls (default), tls, none
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	From         string `yaml:"from"`
}

// authHost is the sign-in host.
func (c *serveConfig) authHost() string {
	if c.Auth != nil && c.Auth.Host != "" {
		return strings.ToLower(strings.TrimSuffix(c.Auth.Host, "."))
	}
	return "auth." + c.Domain
}

// checkAuth checks auth and smtp; secrets are read when the server starts.
func (c *serveConfig) checkAuth(fail failFunc) {
	if a := c.Auth; a != nil {
		if a.Host != "" && !domainName.MatchString(c.authHost()) {
			fail(c.line("auth", "host"), "auth: host %q is not a host name", a.Host)
		}
		if a.SessionTTL < 0 || a.CodeTTL < 0 {
			fail(c.line("auth"), "auth: session_ttl and code_ttl must not be negative")
		}
		if a.MaxTries < 0 || a.MaxTries > 100 {
			fail(c.line("auth", "max_tries"), "auth: max_tries must be from 1 to 100")
		}
		if o := a.OIDC; o != nil {
			if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				fail(c.line("auth", "oidc", "issuer"), "auth: oidc: issuer %q is not an http(s) URL", o.Issuer)
			}
			if o.ClientID == "" {
				fail(c.line("auth", "oidc"), "auth: oidc: client_id is missing")
			}
			checkSecretSource(fail, c.line("auth", "oidc"), "auth: oidc: client_secret", o.ClientSecretFile, o.ClientSecretEnv, c.file)
		}
		for i, o := range a.OAuth {
			r := access.OAuthRelay{Provider: o.Provider, AuthorizeURL: o.AuthorizeURL, CallbackPath: o.CallbackPath}
			if err := r.Check(); err != nil {
				fail(c.lineAt(i, "auth", "oauth"), "auth: %v", err)
			}
		}
	}
	if s := c.SMTP; s != nil {
		if _, err := mail.New(mail.Config{Host: s.Host, Port: s.Port, TLS: s.TLS, From: s.From}); err != nil {
			fail(c.line("smtp"), "%v", err)
		}
		if s.Port < 0 || s.Port > 65535 {
			fail(c.line("smtp", "port"), "smtp: port %d: from 1 to 65535", s.Port)
		}
		if s.Username != "" {
			checkSecretSource(fail, c.line("smtp"), "smtp: password", s.PasswordFile, s.PasswordEnv, c.file)
		}
	}
}

// lineAt is where the i-th item of a list at keys was written.
func (c *serveConfig) lineAt(i int, keys ...string) int {
	if n := c.node(keys...); n != nil && i < len(n.Content) {
		return n.Content[i].Line
	}
	return c.line(keys...)
}

// checkSecretSource wants a secret from exactly one of a file (readable by
// its owner only: it is a password) and an environment variable.
func checkSecretSource(fail failFunc, line int, what, file, env, config string) {
	switch {
	case (file == "") == (env == ""):
		fail(line, "%s: give exactly one of %s_file and %s_env", what, lastWord(what), lastWord(what))
	case file != "":
		fi, err := os.Stat(secretPath(file, config))
		switch {
		case err != nil:
			fail(line, "%s_file: %v", what, err)
		case fi.Mode().Perm()&0o077 != 0:
			fail(line, "%s_file %s is readable by others (%s): chmod 600 it", what, file, fi.Mode().Perm())
		}
	}
}

func lastWord(s string) string { return s[strings.LastIndexAny(s, " :")+1:] }

// secretPath is a secret file's path: relative ones to tandem.yaml.
func secretPath(file, config string) string {
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(filepath.Dir(config), file)
}

// readSecret reads a secret from its file or variable.
func readSecret(what, file, env, config string) (string, error) {
	if env != "" {
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", tandem.Errorf(tandem.EINVALID, "%s: $%s is empty", what, env)
		}
		return v, nil
	}
	b, err := os.ReadFile(secretPath(file, config))
	if err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "%s: %v", what, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// accessOptions is the access.Config tandem.yaml gives: store, previews,
// audit log and logger are the server's.
func (c *serveConfig) accessOptions(logger *slog.Logger) (access.Config, error) {
	cfg := access.Config{Domain: c.Domain, AuthHost: c.authHost(), Scheme: c.PublicScheme, Port: c.PublicPort, Logger: logger}
	if a := c.Auth; a != nil {
		cfg.SessionTTL, cfg.CodeTTL, cfg.MaxTries = time.Duration(a.SessionTTL), time.Duration(a.CodeTTL), a.MaxTries
		for _, o := range a.OAuth {
			cfg.OAuth = append(cfg.OAuth, access.OAuthRelay{Provider: o.Provider, AuthorizeURL: o.AuthorizeURL, CallbackPath: o.CallbackPath})
		}
		if o := a.OIDC; o != nil {
			secret, err := readSecret("auth: oidc: client_secret", o.ClientSecretFile, o.ClientSecretEnv, c.file)
			if err != nil {
				return cfg, err
			}
			cfg.OIDC = &access.OIDCConfig{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, Name: o.Name,
				Scopes: o.Scopes, GroupsClaim: o.GroupsClaim}
		}
	}
	if s := c.SMTP; s != nil {
		var password string
		if s.Username != "" {
			var err error
			if password, err = readSecret("smtp: password", s.PasswordFile, s.PasswordEnv, c.file); err != nil {
				return cfg, err
			}
		}
		sender, err := mail.New(mail.Config{Host: s.Host, Port: s.Port, TLS: s.TLS, Username: s.Username, Password: password, From: s.From})
		if err != nil {
			return cfg, err
		}
		cfg.Mail = sender
	}
	return cfg, nil
}

// describeAuth says how people sign in, for the start-up line.
func describeAuth(cfg access.Config) string {
	var ways []string
	if cfg.OIDC != nil {
		ways = append(ways, "single sign-on at "+cfg.OIDC.Issuer)
	}
	if cfg.Mail != nil {
		ways = append(ways, fmt.Sprintf("codes mailed through %s", cfg.Mail))
	}
	ways = append(ways, "authenticator apps")
	return strings.Join(ways, ", ")
}
