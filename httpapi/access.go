package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tandem-dev/tandem"
)

// accessRoutes are the API of who may do what (see docs/access.md):
//
//	GET    /v1/whoami              the caller: kind, person, token, roles
//	GET    /v1/tokens              the tokens of the repositories the caller administers, and its own
//	POST   /v1/tokens              make one: {name, role, repo, ttl}; its secret is in the answer only
//	DELETE /v1/tokens/{id}         revoke one (an admin of its repository, or its owner)
//	GET    /v1/grants              the grants of the repositories the caller administers
//	POST   /v1/grants              add one: {repo, role, email | domain | group}
//	DELETE /v1/grants/{id}         remove one
//	GET    /v1/people              everyone tandem knows (an admin of every repository)
//	GET    /v1/access/events?after=N   the access events (an admin of every repository)
func (s *Server) accessRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, PrincipalFrom(r.Context()))
	})
	mux.HandleFunc("GET /v1/tokens", s.listTokens)
	mux.HandleFunc("POST /v1/tokens", s.createToken)
	mux.HandleFunc("DELETE /v1/tokens/{id}", s.revokeToken)
	mux.HandleFunc("GET /v1/grants", s.listGrants)
	mux.HandleFunc("POST /v1/grants", s.addGrant)
	mux.HandleFunc("DELETE /v1/grants/{id}", s.deleteGrant)
	mux.HandleFunc("GET /v1/people", func(w http.ResponseWriter, r *http.Request) {
		people, err := s.People(r.Context(), PrincipalFrom(r.Context()))
		respond(w, http.StatusOK, people, err)
	})
	mux.HandleFunc("GET /v1/access/events", func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		events, err := s.AccessEvents(r.Context(), PrincipalFrom(r.Context()), after)
		respond(w, http.StatusOK, events, err)
	})
}

// People returns everyone tandem knows, for an admin of every repository.
func (s *Server) People(ctx context.Context, who *tandem.Principal) ([]*tandem.Person, error) {
	if err := Allowed(who, tandem.AllRepos, tandem.RoleAdmin, "list people"); err != nil {
		return nil, err
	}
	return s.Access.People(ctx)
}

// AccessEvents returns the access events after the one with ID after, for
// an admin of every repository.
func (s *Server) AccessEvents(ctx context.Context, who *tandem.Principal, after int64) ([]tandem.AccessEvent, error) {
	if err := Allowed(who, tandem.AllRepos, tandem.RoleAdmin, "read the access events"); err != nil {
		return nil, err
	}
	return s.Access.AccessEvents(ctx, after, 0)
}

// respond writes v, or err if there is one.
func respond(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, v)
}

// ownsToken reports whether t belongs to p: p is t, or t is p's person's.
func ownsToken(p *tandem.Principal, t *tandem.Token) bool {
	return p != nil && ((p.Token != nil && p.Token.ID == t.ID) || (p.Person != nil && t.PersonID == p.Person.ID))
}

// tokenRepo is the repository whose admins manage t: a person's token is
// an admin of every repository's, and its owner's.
func tokenRepo(t *tandem.Token) string {
	if t.PersonID != "" {
		return tandem.AllRepos
	}
	return t.Repo
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.VisibleTokens(r.Context(), PrincipalFrom(r.Context()))
	respond(w, http.StatusOK, list, err)
}

// VisibleTokens returns the tokens of the repositories who administers,
// and who's own.
func (s *Server) VisibleTokens(ctx context.Context, who *tandem.Principal) ([]*tandem.Token, error) {
	all, err := s.Access.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	list := []*tandem.Token{}
	for _, t := range all {
		if who.Can(tokenRepo(t), tandem.RoleAdmin) || ownsToken(who, t) {
			list = append(list, t)
		}
	}
	return list, nil
}

// TokenBody is the body of POST /v1/tokens. TTL is a duration ("72h") or
// days ("90d"); "" is 90 days, "0" never expires.
type TokenBody struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Repo string `json:"repo"`
	TTL  string `json:"ttl,omitempty"`
}

// NewToken is a token as it is made: the only time its secret is shown.
type NewToken struct {
	Token  *tandem.Token `json:"token"`
	Secret string        `json:"secret"`
}

// DefaultTokenTTL is how long a token lives when its maker does not say.
const DefaultTokenTTL = 90 * 24 * time.Hour

// TokenPrefix starts every API token's secret, so that secret scanners
// (and people) recognise one.
const TokenPrefix = "tdm_"

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var body TokenBody
	if !decodeBody(w, r, &body) {
		return
	}
	made, err := s.CreateToken(r.Context(), PrincipalFrom(r.Context()), body)
	respond(w, http.StatusCreated, made, err)
}

// CreateToken makes, as who (an admin of the token's repository), an API
// token: its secret is in the answer, and nowhere else ever.
func (s *Server) CreateToken(ctx context.Context, who *tandem.Principal, body TokenBody) (NewToken, error) {
	role, err := tandem.ParseRole(body.Role)
	if err == nil {
		err = s.knownRepo(body.Repo)
	}
	if err == nil {
		err = checkName(body.Name)
	}
	ttl, terr := ParseTTL(body.TTL, DefaultTokenTTL)
	if err = firstError(err, terr, Allowed(who, body.Repo, tandem.RoleAdmin, "make tokens")); err != nil {
		return NewToken{}, err
	}
	now := s.now()
	t := &tandem.Token{ID: tandem.NewID("t_"), Name: body.Name, Role: role, Repo: body.Repo, CreatedBy: who.String(), CreatedAt: now.UTC()}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl).UTC()
	}
	secret := tandem.NewSecret(TokenPrefix)
	if err := s.Access.PutToken(ctx, t, tandem.HashSecret(secret)); err != nil {
		return NewToken{}, err
	}
	if err := s.record(ctx, who, tandem.AccessEvent{Kind: "token.created", Repo: t.Repo, Subject: t.ID,
		Detail: fmt.Sprintf("%s: %s in %s, expires %s", t.Name, t.Role, t.Repo, expiry(t.ExpiresAt))}); err != nil {
		return NewToken{}, err
	}
	return NewToken{Token: t, Secret: secret}, nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.RevokeToken(r.Context(), PrincipalFrom(r.Context()), id); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"revoked": id})
}

// RevokeToken revokes, as who (its owner, or an admin of its repository),
// the token id.
func (s *Server) RevokeToken(ctx context.Context, who *tandem.Principal, id string) (*tandem.Token, error) {
	all, err := s.Access.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	var t *tandem.Token
	for _, c := range all {
		if c.ID == id {
			t = c
		}
	}
	if t == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no token %s", id)
	}
	if !ownsToken(who, t) {
		if err := Allowed(who, tokenRepo(t), tandem.RoleAdmin, "revoke token "+id); err != nil {
			return nil, err
		}
	}
	if err := s.Access.RevokeToken(ctx, id, s.now()); err != nil {
		return nil, err
	}
	return t, s.record(ctx, who, tandem.AccessEvent{Kind: "token.revoked", Repo: t.Repo, Subject: id, Detail: t.Name})
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request) {
	list, err := s.VisibleGrants(r.Context(), PrincipalFrom(r.Context()))
	respond(w, http.StatusOK, list, err)
}

// VisibleGrants returns the grants of the repositories who administers.
func (s *Server) VisibleGrants(ctx context.Context, who *tandem.Principal) ([]tandem.Grant, error) {
	all, err := s.Access.Grants(ctx)
	if err != nil {
		return nil, err
	}
	list := []tandem.Grant{}
	for _, g := range all {
		if who.Can(g.Repo, tandem.RoleAdmin) {
			list = append(list, g)
		}
	}
	return list, nil
}

func (s *Server) addGrant(w http.ResponseWriter, r *http.Request) {
	var g tandem.Grant
	if !decodeBody(w, r, &g) {
		return
	}
	g, err := s.AddGrant(r.Context(), PrincipalFrom(r.Context()), g)
	respond(w, http.StatusCreated, g, err)
}

// AddGrant adds, as who (an admin of its repository), a grant, kept until
// removed.
func (s *Server) AddGrant(ctx context.Context, who *tandem.Principal, g tandem.Grant) (tandem.Grant, error) {
	if err := firstError(s.knownRepo(g.Repo), Allowed(who, g.Repo, tandem.RoleAdmin, "grant roles")); err != nil {
		return tandem.Grant{}, err
	}
	g.ID, g.Source = 0, "api"
	g, err := s.Access.AddGrant(ctx, g)
	if err != nil {
		return tandem.Grant{}, err
	}
	return g, s.record(ctx, who, tandem.AccessEvent{Kind: "grant.added", Repo: g.Repo, Subject: fmt.Sprint(g.ID), Detail: g.String()})
}

func (s *Server) deleteGrant(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, tandem.Errorf(tandem.EINVALID, "grant %q: a grant's ID is a number", r.PathValue("id")))
		return
	}
	if _, err := s.RemoveGrant(r.Context(), PrincipalFrom(r.Context()), id); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"removed": id})
}

// RemoveGrant removes, as who (an admin of its repository), the grant id.
func (s *Server) RemoveGrant(ctx context.Context, who *tandem.Principal, id int64) (tandem.Grant, error) {
	all, err := s.Access.Grants(ctx)
	if err != nil {
		return tandem.Grant{}, err
	}
	for _, g := range all {
		if g.ID != id {
			continue
		}
		if err := Allowed(who, g.Repo, tandem.RoleAdmin, "remove grants"); err != nil {
			return tandem.Grant{}, err
		}
		if err := s.Access.DeleteGrant(ctx, id); err != nil {
			return tandem.Grant{}, err
		}
		return g, s.record(ctx, who, tandem.AccessEvent{Kind: "grant.removed", Repo: g.Repo, Subject: fmt.Sprint(id), Detail: g.String()})
	}
	return tandem.Grant{}, tandem.Errorf(tandem.ENOTFOUND, "no grant %d", id)
}

// record records e as who's doing: a change that is not recorded is not
// reported done.
func (s *Server) record(ctx context.Context, who *tandem.Principal, e tandem.AccessEvent) error {
	e.Actor = who.String()
	_, err := s.Access.AddAccessEvent(ctx, e)
	return err
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// checkName checks a token's name: shown in lists and logs, so printable
// and short.
func checkName(name string) error {
	if name == "" || len(name) > 100 || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return tandem.Errorf(tandem.EINVALID, "a token needs a name of at most 100 printable characters, like ci")
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ParseTTL reads a lifetime: a Go duration ("72h", "30m"), or whole days
// ("90d"); "" is def, and "0" means no expiry (0).
func ParseTTL(s string, def time.Duration) (time.Duration, error) {
	switch {
	case s == "":
		return def, nil
	case s == "0":
		return 0, nil
	case strings.HasSuffix(s, "d"):
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n > 0 && n <= 3650 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	default:
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			return d, nil
		}
	}
	return 0, tandem.Errorf(tandem.EINVALID, "ttl %q: want a duration like 90d, 72h or 30m, or 0 for none", s)
}
