// Package gitea is tandem's client of Gitea and Forgejo: webhooks of type
// "gitea" verified by X-Gitea-Signature (X-Hub-Signature-256 also carries
// it), and statuses, comments and permissions through Gitea's /api/v1/,
// which answers GitHub's paths and bodies (go-github, package github's
// REST). Gitea has no deployments.
package gitea

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v92/github"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
	"github.com/tandem-dev/tandem/github"
)

// Config is how tandem reaches a Gitea.
type Config struct {
	URL           string // the Gitea's root: "https://git.example.com"
	Token         string // an access token with write:repository and read:user
	User          string // whose token it is, for git over HTTPS ("" works with Gitea too)
	WebhookSecret []byte
	HTTP          *http.Client
}

// Client is a Gitea as a forge.
type Client struct {
	github.REST
	cfg Config
}

var (
	_ forge.Client      = (*Client)(nil)
	_ forge.Credentials = (*Client)(nil)
)

// New returns a client of a Gitea.
func New(cfg Config) (*Client, error) {
	if len(cfg.WebhookSecret) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "gitea: no webhook secret")
	}
	if cfg.Token == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "gitea: no token")
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	base := strings.TrimSuffix(cfg.URL, "/") + "/api/v1/"
	api, err := gh.NewClient(gh.WithHTTPClient(hc), gh.WithURLs(&base, &base), gh.WithAuthToken(cfg.Token), gh.WithUserAgent("tandem"))
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "gitea: %v", err)
	}
	return &Client{REST: github.REST{API: api}, cfg: cfg}, nil
}

func (c *Client) Kind() string { return "gitea" }

// Verify checks X-Gitea-Signature (the hex HMAC-SHA256 of the body), or
// X-Hub-Signature-256 where a proxy kept only that.
func (c *Client) Verify(h http.Header, body []byte) error {
	if sig := h.Get("X-Gitea-Signature"); sig != "" {
		return github.VerifyHMAC(sig, "", c.cfg.WebhookSecret, body)
	}
	return github.VerifyHMAC(h.Get("X-Hub-Signature-256"), "sha256=", c.cfg.WebhookSecret, body)
}

// Parse normalises a delivery: Gitea's payloads have GitHub's shape.
func (c *Client) Parse(h http.Header, body []byte) (*forge.Event, error) {
	return github.ParseEvent(h.Get("X-Gitea-Event"), h.Get("X-Gitea-Delivery"), body)
}

// GitAuthorization is the header git fetches with: the token as a
// password, as Gitea takes it over HTTPS.
func (c *Client) GitAuthorization(context.Context) (string, error) {
	user := c.cfg.User
	if user == "" {
		user = "tandem"
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+c.cfg.Token)), nil
}
