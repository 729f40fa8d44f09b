package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/tandem-dev/tandem"
)

// Shares makes, lists and revokes share links: package access does.
type Shares interface {
	CreateShare(ctx context.Context, by *tandem.Principal, preview, email string, ttl time.Duration, send bool) (*tandem.ShareLink, string, error)
	Shares(ctx context.Context, preview string) ([]*tandem.ShareLink, error)
	RevokeShare(ctx context.Context, by *tandem.Principal, preview, id string) (*tandem.ShareLink, error)
}

// ShareBody is the body of POST /v1/previews/{name}/shares. TTL is as
// ParseTTL reads it; default 48h. With Send, tandem mails the link to the
// person as well.
type ShareBody struct {
	Email string `json:"email"`
	TTL   string `json:"ttl,omitempty"`
	Send  bool   `json:"send,omitempty"`
}

// NewShare is a share link just made: its URL holds its secret, and is
// shown this once.
type NewShare struct {
	Share *tandem.ShareLink `json:"share"`
	URL   string            `json:"url"`
	// Warning says what went wrong after the link was made: it could not
	// be mailed.
	Warning string `json:"warning,omitempty"`
}

// ShareRole is what sharing a preview takes (making, listing and revoking
// its share links): letting someone from outside in is more than looking.
const ShareRole = tandem.RoleReviewer

// defaultShareTTL is a share link's life when its maker does not say.
const defaultShareTTL = 48 * time.Hour

// POST   /v1/previews/{name}/shares        make a link for one person (reviewer)
// GET    /v1/previews/{name}/shares        list them (reviewer)
// DELETE /v1/previews/{name}/shares/{id}   revoke one (reviewer)
func (s *Server) shareRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/previews/{name}/shares", s.createShare)
	mux.HandleFunc("GET /v1/previews/{name}/shares", s.listShares)
	mux.HandleFunc("DELETE /v1/previews/{name}/shares/{id}", s.revokeShare)
}

func (s *Server) sharesAvailable() error {
	if s.Shares == nil {
		return tandem.Errorf(tandem.EUNSUPPORTED, "this server makes no share links")
	}
	return nil
}

func (s *Server) createShare(w http.ResponseWriter, r *http.Request) {
	var body ShareBody
	if !decodeBody(w, r, &body) {
		return
	}
	made, err := s.CreateShare(r.Context(), PrincipalFrom(r.Context()), r.PathValue("name"), body)
	respond(w, http.StatusCreated, made, err)
}

// CreateShare makes, as who, a share link to the preview called name for
// one person. Its URL holds its secret, and is in the answer only. A link
// made but not mailed is no error: Warning says so.
func (s *Server) CreateShare(ctx context.Context, who *tandem.Principal, name string, body ShareBody) (NewShare, error) {
	if err := s.sharesAvailable(); err != nil {
		return NewShare{}, err
	}
	pv, err := s.Preview(ctx, who, name, ShareRole, "share previews")
	if err != nil {
		return NewShare{}, err
	}
	ttl, err := ParseTTL(body.TTL, defaultShareTTL)
	if err != nil {
		return NewShare{}, err
	}
	link, u, err := s.Shares.CreateShare(ctx, who, pv.Name, body.Email, ttl, body.Send)
	if err != nil && link == nil {
		return NewShare{}, err
	}
	made := NewShare{Share: link, URL: u}
	if err != nil { // made, but not mailed
		made.Warning = err.Error()
	}
	return made, nil
}

func (s *Server) listShares(w http.ResponseWriter, r *http.Request) {
	list, err := s.ListShares(r.Context(), PrincipalFrom(r.Context()), r.PathValue("name"))
	respond(w, http.StatusOK, list, err)
}

// ListShares returns the share links of the preview called name, for who
// may share it.
func (s *Server) ListShares(ctx context.Context, who *tandem.Principal, name string) ([]*tandem.ShareLink, error) {
	if err := s.sharesAvailable(); err != nil {
		return nil, err
	}
	pv, err := s.Preview(ctx, who, name, ShareRole, "see the share links of previews")
	if err != nil {
		return nil, err
	}
	list, err := s.Shares.Shares(ctx, pv.Name)
	if list == nil {
		list = []*tandem.ShareLink{}
	}
	return list, err
}

func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request) {
	link, err := s.RevokeShare(r.Context(), PrincipalFrom(r.Context()), r.PathValue("name"), r.PathValue("id"))
	respond(w, http.StatusOK, link, err)
}

// RevokeShare revokes, as who, the share link id of the preview called name.
func (s *Server) RevokeShare(ctx context.Context, who *tandem.Principal, name, id string) (*tandem.ShareLink, error) {
	if err := s.sharesAvailable(); err != nil {
		return nil, err
	}
	pv, err := s.Preview(ctx, who, name, ShareRole, "revoke share links of previews")
	if err != nil {
		return nil, err
	}
	return s.Shares.RevokeShare(ctx, who, pv.Name, id)
}

// CreateShare makes a share link to preview.
func (c *Client) CreateShare(ctx context.Context, preview string, body ShareBody) (NewShare, error) {
	var out NewShare
	return out, c.call(ctx, http.MethodPost, "/v1/previews/"+url.PathEscape(preview)+"/shares", body, &out)
}

// Shares lists the share links of preview.
func (c *Client) Shares(ctx context.Context, preview string) ([]*tandem.ShareLink, error) {
	var list []*tandem.ShareLink
	return list, c.call(ctx, http.MethodGet, "/v1/previews/"+url.PathEscape(preview)+"/shares", nil, &list)
}

// RevokeShare revokes the share link id of preview.
func (c *Client) RevokeShare(ctx context.Context, preview, id string) (*tandem.ShareLink, error) {
	var link tandem.ShareLink
	return &link, c.call(ctx, http.MethodDelete, "/v1/previews/"+url.PathEscape(preview)+"/shares/"+url.PathEscape(id), nil, &link)
}
