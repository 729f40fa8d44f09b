package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tandem-dev/tandem"
)

// call sends body (if not nil) and decodes the answer into out.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// Whoami returns who the server takes the client for.
func (c *Client) Whoami(ctx context.Context) (*tandem.Principal, error) {
	var p tandem.Principal
	return &p, c.call(ctx, http.MethodGet, "/v1/whoami", nil, &p)
}

// CreateToken makes a token; the answer holds its secret, the only time.
func (c *Client) CreateToken(ctx context.Context, body TokenBody) (NewToken, error) {
	var t NewToken
	return t, c.call(ctx, http.MethodPost, "/v1/tokens", body, &t)
}

// Tokens lists the tokens the client may see.
func (c *Client) Tokens(ctx context.Context) ([]*tandem.Token, error) {
	var list []*tandem.Token
	return list, c.call(ctx, http.MethodGet, "/v1/tokens", nil, &list)
}

// RevokeToken revokes the token id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// Grants lists the grants the client may see.
func (c *Client) Grants(ctx context.Context) ([]tandem.Grant, error) {
	var list []tandem.Grant
	return list, c.call(ctx, http.MethodGet, "/v1/grants", nil, &list)
}

// AddGrant adds a grant and returns it with its ID.
func (c *Client) AddGrant(ctx context.Context, g tandem.Grant) (tandem.Grant, error) {
	var out tandem.Grant
	return out, c.call(ctx, http.MethodPost, "/v1/grants", g, &out)
}

// DeleteGrant removes the grant id.
func (c *Client) DeleteGrant(ctx context.Context, id int64) error {
	return c.call(ctx, http.MethodDelete, fmt.Sprintf("/v1/grants/%d", id), nil, nil)
}

// People lists everyone the server knows.
func (c *Client) People(ctx context.Context) ([]*tandem.Person, error) {
	var list []*tandem.Person
	return list, c.call(ctx, http.MethodGet, "/v1/people", nil, &list)
}

// StartLogin starts a `tandem login`; client says what logs in.
func (c *Client) StartLogin(ctx context.Context, client string) (LoginStart, error) {
	var s LoginStart
	return s, c.call(ctx, http.MethodPost, "/v1/login/device", map[string]string{"client": client}, &s)
}

// PollLogin asks whether the person answered: Status "pending", or
// "approved" with the token. A denied login is EFORBIDDEN, an expired one
// ENOTFOUND.
func (c *Client) PollLogin(ctx context.Context, deviceCode string) (LoginPoll, error) {
	var p LoginPoll
	return p, c.call(ctx, http.MethodPost, "/v1/login/token", map[string]string{"device_code": deviceCode}, &p)
}
