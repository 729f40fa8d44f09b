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

// shareRole is what sharing a preview takes: letting someone from outside
// in is more than looking.
const shareRole = tandem.RoleReviewer

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

func (s *Server) sharesAvailable(w http.ResponseWriter) bool {
	if s.Shares == nil {
		writeError(w, tandem.Errorf(tandem.EUNSUPPORTED, "this server makes no share links"))
		return false
	}
	return true
}

func (s *Server) createShare(w http.ResponseWriter, r *http.Request) {
	var body ShareBody
	if !s.sharesAvailable(w) || !decodeBody(w, r, &body) {
		return
	}
	pv, ok := s.preview(w, r, shareRole, "share previews")
	if !ok {
		return
	}
	ttl, err := ParseTTL(body.TTL, defaultShareTTL)
	if err != nil {
		writeError(w, err)
		return
	}
	link, u, err := s.Shares.CreateShare(r.Context(), PrincipalFrom(r.Context()), pv.Name, body.Email, ttl, body.Send)
	if err != nil && link == nil {
		writeError(w, err)
		return
	}
	made := NewShare{Share: link, URL: u}
	if err != nil { // made, but not mailed
		made.Warning = err.Error()
	}
	writeJSON(w, http.StatusCreated, made)
}

func (s *Server) listShares(w http.ResponseWriter, r *http.Request) {
	if !s.sharesAvailable(w) {
		return
	}
	pv, ok := s.preview(w, r, shareRole, "see the share links of previews")
	if !ok {
		return
	}
	list, err := s.Shares.Shares(r.Context(), pv.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	if list == nil {
		list = []*tandem.ShareLink{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request) {
	if !s.sharesAvailable(w) {
		return
	}
	pv, ok := s.preview(w, r, shareRole, "revoke share links of previews")
	if !ok {
		return
	}
	link, err := s.Shares.RevokeShare(r.Context(), PrincipalFrom(r.Context()), pv.Name, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, link)
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
