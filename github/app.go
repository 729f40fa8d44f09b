package github

import (
	"context"
	"crypto/rsa"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v92/github"

	"github.com/tandem-dev/tandem"
)

// App is a GitHub App installed on the repositories tandem serves.
type App struct {
	ID             int64
	InstallationID int64
	PrivateKey     []byte // PEM, as GitHub hands it out
}

// appTokens exchanges the App's JWT for installation tokens, and keeps one
// until shortly before it expires.
type appTokens struct {
	app  App
	key  *rsa.PrivateKey
	api  *gh.Client // authenticated with the JWT
	now  func() time.Time
	mu   sync.Mutex
	tok  string
	till time.Time
}

func newAppTokens(app App, hc *http.Client, opts []gh.ClientOptionsFunc) (*appTokens, error) {
	key, err := jwt.ParseRSAPrivateKeyFromPEM(app.PrivateKey)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "github app: private key: %v", err)
	}
	if app.ID == 0 || app.InstallationID == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "github app: give its id and installation id")
	}
	t := &appTokens{app: app, key: key, now: time.Now}
	jc := *hc
	jc.Transport = &bearer{base: transport(hc), token: func(context.Context) (string, error) { return t.jwt() }}
	t.api, err = gh.NewClient(append(opts, gh.WithHTTPClient(&jc))...)
	return t, err
}

// jwt is the App's own token: RS256, issued by its ID, a minute in the
// past against clock drift, for nine minutes (GitHub allows ten).
func (t *appTokens) jwt() (string, error) {
	now := t.now()
	return jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(t.app.ID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}).SignedString(t.key)
}

// token returns an installation token valid for at least five more minutes.
func (t *appTokens) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != "" && t.now().Add(5*time.Minute).Before(t.till) {
		return t.tok, nil
	}
	it, _, err := t.api.Apps.CreateInstallationToken(ctx, t.app.InstallationID, nil)
	if err != nil {
		return "", apiError(err)
	}
	t.tok, t.till = it.GetToken(), it.GetExpiresAt().Time
	if t.till.IsZero() {
		t.till = t.now().Add(time.Hour)
	}
	return t.tok, nil
}
