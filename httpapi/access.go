package httpapi

import (
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
		if !allow(w, r, tandem.AllRepos, tandem.RoleAdmin, "list people") {
			return
		}
		people, err := s.Access.People(r.Context())
		respond(w, http.StatusOK, people, err)
	})
	mux.HandleFunc("GET /v1/access/events", func(w http.ResponseWriter, r *http.Request) {
		if !allow(w, r, tandem.AllRepos, tandem.RoleAdmin, "read the access events") {
			return
		}
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		events, err := s.Access.AccessEvents(r.Context(), after, 0)
		respond(w, http.StatusOK, events, err)
	})
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
	all, err := s.Access.Tokens(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	who := PrincipalFrom(r.Context())
	list := []*tandem.Token{}
	for _, t := range all {
		if who.Can(tokenRepo(t), tandem.RoleAdmin) || ownsToken(who, t) {
			list = append(list, t)
		}
	}
	writeJSON(w, http.StatusOK, list)
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
	role, err := tandem.ParseRole(body.Role)
	if err == nil {
		err = s.knownRepo(body.Repo)
	}
	if err == nil {
		err = checkName(body.Name)
	}
	ttl, terr := ParseTTL(body.TTL, DefaultTokenTTL)
	if err = firstError(err, terr); err != nil {
		writeError(w, err)
		return
	}
	if !allow(w, r, body.Repo, tandem.RoleAdmin, "make tokens") {
		return
	}
	who, now := PrincipalFrom(r.Context()), s.now()
	t := &tandem.Token{ID: tandem.NewID("t_"), Name: body.Name, Role: role, Repo: body.Repo, CreatedBy: who.String(), CreatedAt: now.UTC()}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl).UTC()
	}
	secret := tandem.NewSecret(TokenPrefix)
	if err := s.Access.PutToken(r.Context(), t, tandem.HashSecret(secret)); err != nil {
		writeError(w, err)
		return
	}
	if !s.event(w, r, tandem.AccessEvent{Kind: "token.created", Repo: t.Repo, Subject: t.ID,
		Detail: fmt.Sprintf("%s: %s in %s, expires %s", t.Name, t.Role, t.Repo, expiry(t.ExpiresAt))}) {
		return
	}
	writeJSON(w, http.StatusCreated, NewToken{Token: t, Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	all, err := s.Access.Tokens(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	var t *tandem.Token
	for _, c := range all {
		if c.ID == id {
			t = c
		}
	}
	who := PrincipalFrom(r.Context())
	switch {
	case t == nil:
		writeError(w, tandem.Errorf(tandem.ENOTFOUND, "no token %s", id))
		return
	case !ownsToken(who, t) && !allow(w, r, tokenRepo(t), tandem.RoleAdmin, "revoke token "+id):
		return
	}
	if err := s.Access.RevokeToken(r.Context(), id, s.now()); err != nil {
		writeError(w, err)
		return
	}
	if s.event(w, r, tandem.AccessEvent{Kind: "token.revoked", Repo: t.Repo, Subject: id, Detail: t.Name}) {
		writeJSON(w, http.StatusOK, map[string]string{"revoked": id})
	}
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request) {
	all, err := s.Access.Grants(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	who := PrincipalFrom(r.Context())
	list := []tandem.Grant{}
	for _, g := range all {
		if who.Can(g.Repo, tandem.RoleAdmin) {
			list = append(list, g)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) addGrant(w http.ResponseWriter, r *http.Request) {
	var g tandem.Grant
	if !decodeBody(w, r, &g) {
		return
	}
	if err := s.knownRepo(g.Repo); err != nil {
		writeError(w, err)
		return
	}
	if !allow(w, r, g.Repo, tandem.RoleAdmin, "grant roles") {
		return
	}
	g.ID, g.Source = 0, "api"
	g, err := s.Access.AddGrant(r.Context(), g)
	if err != nil {
		writeError(w, err)
		return
	}
	if s.event(w, r, tandem.AccessEvent{Kind: "grant.added", Repo: g.Repo, Subject: fmt.Sprint(g.ID), Detail: g.String()}) {
		writeJSON(w, http.StatusCreated, g)
	}
}

func (s *Server) deleteGrant(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, tandem.Errorf(tandem.EINVALID, "grant %q: a grant's ID is a number", r.PathValue("id")))
		return
	}
	all, err := s.Access.Grants(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	for _, g := range all {
		if g.ID != id {
			continue
		}
		if !allow(w, r, g.Repo, tandem.RoleAdmin, "remove grants") {
			return
		}
		if err := s.Access.DeleteGrant(r.Context(), id); err != nil {
			writeError(w, err)
			return
		}
		if s.event(w, r, tandem.AccessEvent{Kind: "grant.removed", Repo: g.Repo, Subject: fmt.Sprint(id), Detail: g.String()}) {
			writeJSON(w, http.StatusOK, map[string]int64{"removed": id})
		}
		return
	}
	writeError(w, tandem.Errorf(tandem.ENOTFOUND, "no grant %d", id))
}

// event records e as the request's principal's doing; it answers the
// request if it cannot: a change that is not recorded is not reported done.
func (s *Server) event(w http.ResponseWriter, r *http.Request, e tandem.AccessEvent) bool {
	e.Actor = PrincipalFrom(r.Context()).String()
	if _, err := s.Access.AddAccessEvent(r.Context(), e); err != nil {
		writeError(w, err)
		return false
	}
	return true
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
