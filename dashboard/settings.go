package dashboard

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/httpapi"
)

type personRow struct {
	P     *tandem.Person
	Roles map[string]tandem.Role
}

type settingsData struct {
	Repos     []Repo
	ShowURL   map[string]bool // the repositories whose URL the person may see: those they administer
	AdminOf   []string        // where the person may grant roles and make tokens
	People    []personRow     // nil unless the person administers every repository
	AllAdmin  bool
	Grants    []tandem.Grant
	Tokens    []*tandem.Token
	Events    []tandem.AccessEvent // the newest access events, for an admin of every repository
	Roles     []tandem.Role
	TokenTTLs []string
}

// settingsEvents is how many access events settings show.
const settingsEvents = 50

// settingsPage shows, to admins, people and their roles, grants, tokens
// and repositories: each part as the API shows it to the same person.
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) {
	who := s.who(r)
	if !canAdmin(who, s.cfg.Repos) {
		s.fail(w, r, httpapi.Allowed(who, tandem.AllRepos, tandem.RoleAdmin, "see settings"))
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	d := settingsData{Repos: s.cfg.Repos, ShowURL: map[string]bool{}, AllAdmin: who.Can(tandem.AllRepos, tandem.RoleAdmin),
		Roles: []tandem.Role{tandem.RoleViewer, tandem.RoleReviewer, tandem.RoleApprover, tandem.RoleAdmin}, TokenTTLs: []string{"30d", "90d", "365d", "0"}}
	if d.AllAdmin {
		d.AdminOf = append(d.AdminOf, tandem.AllRepos)
	}
	for _, repo := range s.cfg.Repos {
		if who.Can(repo.Name, tandem.RoleAdmin) {
			d.ShowURL[repo.Name] = true
			d.AdminOf = append(d.AdminOf, repo.Name)
		}
	}
	var err error
	if d.Grants, err = s.cfg.API.VisibleGrants(c, who); err == nil {
		d.Tokens, err = s.cfg.API.VisibleTokens(c, who)
	}
	if err == nil && d.AllAdmin {
		err = s.peopleAndEvents(r, &d)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "settings", s.newPage(w, r, "Settings", "settings", d))
}

// peopleAndEvents fills in everyone tandem knows, with their roles as the
// grants give them now, and the newest access events.
func (s *Server) peopleAndEvents(r *http.Request, d *settingsData) error {
	c, cancel := ctx(r)
	defer cancel()
	who := s.who(r)
	people, err := s.cfg.API.People(c, who)
	if err != nil {
		return err
	}
	all, err := s.cfg.API.VisibleGrants(c, who)
	if err != nil {
		return err
	}
	for _, p := range people {
		d.People = append(d.People, personRow{P: p, Roles: tandem.ResolveRoles(all, p)})
	}
	events, err := s.cfg.API.AccessEvents(c, who, 0)
	if err != nil {
		return err
	}
	if len(events) > settingsEvents {
		events = events[len(events)-settingsEvents:]
	}
	for i := len(events) - 1; i >= 0; i-- { // newest first
		d.Events = append(d.Events, events[i])
	}
	return nil
}

func (s *Server) addGrant(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	c, cancel := ctx(r)
	defer cancel()
	role, err := tandem.ParseRole(r.PostFormValue("role"))
	g := tandem.Grant{Repo: r.PostFormValue("repo"), Role: role}
	value := strings.TrimSpace(r.PostFormValue("value"))
	switch r.PostFormValue("kind") {
	case "email":
		g.Email = strings.ToLower(value)
	case "domain":
		g.Domain = strings.ToLower(value)
	case "group":
		g.Group = value
	default:
		err = firstErr(err, tandem.Errorf(tandem.EINVALID, "a grant is to an email address, a domain or a group"))
	}
	if err == nil {
		_, err = s.cfg.API.AddGrant(c, who, g)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings?done=grant-added#grants", http.StatusSeeOther)
}

func (s *Server) removeGrant(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	c, cancel := ctx(r)
	defer cancel()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		err = tandem.Errorf(tandem.ENOTFOUND, "no grant %q", r.PathValue("id"))
	} else {
		_, err = s.cfg.API.RemoveGrant(c, who, id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings?done=grant-removed#grants", http.StatusSeeOther)
}

// createToken makes a token and shows its secret, this once: in this
// answer, never in a link, a log or another page.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	c, cancel := ctx(r)
	defer cancel()
	made, err := s.cfg.API.CreateToken(c, who, httpapi.TokenBody{Name: strings.TrimSpace(r.PostFormValue("name")),
		Role: r.PostFormValue("role"), Repo: r.PostFormValue("repo"), TTL: r.PostFormValue("ttl")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, http.StatusCreated, "token-made", s.newPage(w, r, "Token "+made.Token.Name, "settings", made))
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	c, cancel := ctx(r)
	defer cancel()
	if _, err := s.cfg.API.RevokeToken(c, who, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings?done=token-revoked#tokens", http.StatusSeeOther)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
