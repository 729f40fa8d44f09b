package github

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v92/github"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
)

// Config is how tandem reaches GitHub. Give Token, or the App's ID,
// installation ID and private key.
type Config struct {
	// API is the REST API's base URL: "" for github.com, or a GitHub
	// Enterprise Server's "https://HOST/api/v3/".
	API string
	// WebhookSecret is the webhook's secret: deliveries not signed with it
	// are refused.
	WebhookSecret []byte
	Token         string
	App           *App
	// HTTP is the client requests go through (nil: a default with a timeout).
	HTTP *http.Client
}

// Client is GitHub as a forge.
type Client struct {
	REST
	secret []byte
	auth   func(context.Context) (string, error) // the current token
	app    *appTokens                            // nil: a token of its own
}

var (
	_ forge.Client      = (*Client)(nil)
	_ forge.Deployer    = (*Client)(nil)
	_ forge.Credentials = (*Client)(nil)
)

// New returns a client of GitHub.
func New(cfg Config) (*Client, error) {
	if len(cfg.WebhookSecret) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "github: no webhook secret")
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{secret: cfg.WebhookSecret}
	opts := []gh.ClientOptionsFunc{gh.WithUserAgent("tandem")}
	if cfg.API != "" {
		opts = append(opts, gh.WithURLs(gh.Ptr(cfg.API), gh.Ptr(cfg.API)))
	}
	switch {
	case cfg.App != nil:
		tokens, err := newAppTokens(*cfg.App, hc, opts)
		if err != nil {
			return nil, err
		}
		c.auth, c.app = tokens.token, tokens
	case cfg.Token != "":
		c.auth = func(context.Context) (string, error) { return cfg.Token, nil }
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "github: give a token or a GitHub App")
	}
	api := *hc
	api.Transport = &bearer{base: transport(hc), token: c.auth}
	var err error
	c.API, err = gh.NewClient(append(opts, gh.WithHTTPClient(&api))...)
	return c, err
}

func (c *Client) Kind() string { return "github" }

// Verify checks X-Hub-Signature-256: the body's HMAC-SHA256 under the
// webhook's secret, compared in constant time.
func (c *Client) Verify(h http.Header, body []byte) error {
	return VerifyHMAC(h.Get("X-Hub-Signature-256"), "sha256=", c.secret, body)
}

// VerifyHMAC checks a hex HMAC-SHA256 signature of body under secret,
// after prefix ("sha256=", or "" for Gitea's X-Gitea-Signature).
func VerifyHMAC(signature, prefix string, secret, body []byte) error {
	hexSig, ok := strings.CutPrefix(signature, prefix)
	got, err := hex.DecodeString(hexSig)
	if !ok || signature == "" || err != nil || len(secret) == 0 {
		return tandem.Errorf(tandem.EUNAUTHORIZED, "no valid signature")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return tandem.Errorf(tandem.EUNAUTHORIZED, "wrong signature")
	}
	return nil
}

// Parse normalises a verified delivery.
func (c *Client) Parse(h http.Header, body []byte) (*forge.Event, error) {
	return ParseEvent(h.Get("X-GitHub-Event"), h.Get("X-GitHub-Delivery"), body)
}

// Deploy creates a deployment of sha to a transient environment named after
// the preview; no merge of the default branch, no required contexts.
func (c *Client) Deploy(ctx context.Context, project, sha, environment string) (int64, error) {
	owner, repo, err := split(project)
	if err != nil {
		return 0, err
	}
	d, _, err := c.API.Repositories.CreateDeployment(ctx, owner, repo, gh.DeploymentRequest{
		Ref: sha, Environment: gh.Ptr(environment), Description: gh.Ptr("tandem preview " + environment),
		AutoMerge: gh.Ptr(false), RequiredContexts: []string{},
		TransientEnvironment: gh.Ptr(true), ProductionEnvironment: gh.Ptr(false),
	})
	if err != nil {
		return 0, apiError(err)
	}
	return d.GetID(), nil
}

// DeploymentStatus adds a status with the preview's URL as the
// environment's.
func (c *Client) DeploymentStatus(ctx context.Context, project string, id int64, state, url, description string) error {
	owner, repo, err := split(project)
	if err != nil {
		return err
	}
	req := gh.DeploymentStatusRequest{State: state, Description: gh.Ptr(description)}
	if url != "" {
		req.EnvironmentURL = gh.Ptr(url)
	}
	_, _, err = c.API.Repositories.CreateDeploymentStatus(ctx, owner, repo, id, req)
	return apiError(err)
}

// GitAuthorization is the header git fetches with: an installation token
// (or the token) as GitHub documents it for HTTPS, x-access-token:TOKEN.
func (c *Client) GitAuthorization(ctx context.Context) (string, error) {
	t, err := c.auth(ctx)
	if err != nil {
		return "", err
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+t)), nil
}

// bearer adds the current token to every request.
type bearer struct {
	base  http.RoundTripper
	token func(context.Context) (string, error)
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	t, err := b.token(r.Context())
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t)
	return b.base.RoundTrip(r)
}

func transport(hc *http.Client) http.RoundTripper {
	if hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}
