package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tandem.yaml's auth and smtp: read whole, and every mistake named with
// its line; secrets come from a file only its owner reads, or the
// environment.
func TestAuthConfig(t *testing.T) {
	dir := t.TempDir()
	writeSecret := func(name string, mode os.FileMode) {
		os.WriteFile(filepath.Join(dir, name), []byte("s3cret-value\n"), mode)
		os.Chmod(filepath.Join(dir, name), mode)
	}
	writeSecret("oidc-secret", 0o600)
	writeSecret("smtp-password", 0o600)
	writeSecret("open-secret", 0o644)
	good := `domain: previews.example.com
auth:
  host: signin.example.com
  session_ttl: 8h
  max_tries: 4
  oidc: {issuer: "https://login.corp.example", client_id: tandem, client_secret_file: oidc-secret, name: Corp SSO}
  oauth:
    - {provider: github, authorize_url: "https://github.com/login/oauth/authorize"}
smtp: {host: smtp.corp.example, username: tandem, password_file: smtp-password, from: "tandem <previews@corp.example>"}
` + repos
	file := filepath.Join(dir, "tandem.yaml")
	writeFile(t, file, good)
	cfg, err := readServeConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cfg.accessOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.AuthHost != "signin.example.com" || opts.OIDC.ClientSecret != "s3cret-value" || opts.SessionTTL != 8*time.Hour ||
		opts.MaxTries != 4 || opts.Mail == nil || opts.OAuth[0].Provider != "github" || cfg.loginVerificationURL() != "http://signin.example.com:8080/device" {
		t.Errorf("%+v", opts)
	}
	if s := describeAuth(opts); strings.Contains(s, "s3cret") || !strings.Contains(s, "single sign-on at https://login.corp.example") {
		t.Errorf("describe: %s", s)
	}
	t.Setenv("TANDEM_TEST_SMTP", "from-env")
	writeFile(t, file, strings.Replace(good, "password_file: smtp-password", "password_env: TANDEM_TEST_SMTP", 1))
	if cfg, err = readServeConfig(file); err == nil {
		_, err = cfg.accessOptions(nil)
	}
	if err != nil {
		t.Errorf("password_env: %v", err)
	}

	for _, tc := range []struct{ name, from, to, want string }{
		{"open secret", "client_secret_file: oidc-secret", "client_secret_file: open-secret", "readable by others"},
		{"two secrets", "client_secret_file: oidc-secret", "client_secret_file: oidc-secret, client_secret_env: X", "exactly one of"},
		{"no secret", "client_secret_file: oidc-secret, ", "", "exactly one of"},
		{"missing secret", "client_secret_file: oidc-secret", "client_secret_file: nowhere", "no such file"},
		{"issuer", `"https://login.corp.example"`, `"ftp://login"`, `tandem.yaml:6: auth: oidc: issuer "ftp://login" is not an http(s) URL`},
		{"host", "host: signin.example.com", "host: not a host", `tandem.yaml:3: auth: host "not a host" is not a host name`},
		{"tries", "max_tries: 4", "max_tries: -1", "tandem.yaml:5: auth: max_tries must be from 1 to 100"},
		{"oauth", `authorize_url: "https://github.com/login/oauth/authorize"`, `authorize_url: "nope"`, `tandem.yaml:8: auth: oauth github: authorize_url "nope"`},
		{"smtp tls", "host: smtp.corp.example,", "host: smtp.corp.example, tls: ssl3,", `smtp: tls "ssl3"`},
		{"smtp from", `from: "tandem <previews@corp.example>"`, `from: nobody`, `smtp: from "nobody" is not an address`},
		{"unknown key", "max_tries: 4", "max_tries: 4\n  password: hunter2", "field password not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, file, strings.Replace(good, tc.from, tc.to, 1))
			_, err := readServeConfig(file)
			if err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "tandem.yaml", file, 1)) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
