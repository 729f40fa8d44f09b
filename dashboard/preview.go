package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/httpapi"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/supervisor"
)

// previewData is what a preview's page shows.
type previewData struct {
	Row       row
	Services  services
	Timeline  []item
	After     int64 // the last of the preview's events shown
	Output    bool  // build output is shown in the timeline
	MayChange bool  // redeploy and destroy
	MayShare  bool
	Shares    []*tandem.ShareLink
	LiveURL   string
}

// viewPreview returns the preview the path names if the person may act as
// need in its repository, and answers the request if not.
func (s *Server) viewPreview(w http.ResponseWriter, r *http.Request, need tandem.Role, doing string) (*tandem.Preview, bool) {
	c, cancel := ctx(r)
	defer cancel()
	name := r.PathValue("name")
	p, err := s.cfg.API.Preview(c, s.who(r), name, need, doing+" "+name)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return p, true
}

func (s *Server) previewPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.viewPreview(w, r, tandem.RoleViewer, "view preview")
	if !ok {
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	who := s.who(r)
	d := previewData{Row: s.row(c, p, s.cfg.Now()), Services: s.services(p.Name), Output: r.URL.Query().Get("output") == "1",
		MayChange: who.Can(p.Repo, httpapi.ChangeRole), MayShare: who.Can(p.Repo, httpapi.ShareRole)}
	var err error
	if d.Timeline, d.After, err = s.timeline(c, p, d.Output); err != nil {
		s.fail(w, r, err)
		return
	}
	if d.MayShare {
		if d.Shares, err = s.cfg.API.ListShares(c, who, p.Name); err != nil && tandem.ErrorCode(err) != tandem.EUNSUPPORTED {
			s.fail(w, r, err)
			return
		}
		d.MayShare = err == nil
	}
	q := url.Values{"after": {strconv.FormatInt(d.After, 10)}}
	if d.Output {
		q.Set("output", "1")
	}
	d.LiveURL = "/previews/" + url.PathEscape(p.Name) + "/live?" + q.Encode()
	s.render(w, http.StatusOK, "preview", s.newPage(w, r, p.Name, "previews", d))
}

// services are the services of a preview's running instance.
type services struct {
	Name     string
	Services []supervisor.Status // by name; none when nothing runs
}

func (s *Server) services(name string) services {
	in := s.cfg.Previews.Instance(name) // nil while it sleeps
	if in == nil {
		return services{Name: name}
	}
	sup := in.Supervisor()
	if sup == nil {
		return services{Name: name}
	}
	st := sup.Status()
	sort.Slice(st, func(i, j int) bool { return st[i].Service < st[j].Service })
	return services{Name: name, Services: st}
}

// confirmPage asks before a redeploy or a destroy: a page of its own, so
// that it works without JavaScript and no click does either by mistake.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "redeploy" && action != "destroy" {
		http.NotFound(w, r)
		return
	}
	p, ok := s.viewPreview(w, r, httpapi.ChangeRole, action+" preview")
	if !ok {
		return
	}
	title := map[string]string{"redeploy": "Redeploy " + p.Name, "destroy": "Destroy " + p.Name}[action]
	s.render(w, http.StatusOK, "confirm", s.newPage(w, r, title, "previews", struct {
		P      *tandem.Preview
		Action string
	}{p, action}))
}

// redeploy makes a new generation of a preview at its ref's current
// commit, as an update through the API would.
func (s *Server) redeploy(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	c, cancel := ctx(r)
	defer cancel()
	name := r.PathValue("name")
	p, err := s.cfg.API.Preview(c, who, name, httpapi.ChangeRole, "redeploy preview "+name)
	if err == nil {
		_, err = s.cfg.API.CreatePreview(c, who, preview.CreateRequest{Name: p.Name, Repo: p.Repo, Ref: p.Ref, PR: p.PR, TTL: p.TTL})
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/previews/"+url.PathEscape(name)+"?done=redeployed", http.StatusSeeOther)
}

// destroy destroys a preview. Who may is decided now; the destroying goes
// on after the answer (stopping an instance takes its services' grace),
// and the list shows it.
func (s *Server) destroy(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	c, cancel := ctx(r)
	defer cancel()
	name := r.PathValue("name")
	if _, err := s.cfg.API.Preview(c, who, name, httpapi.ChangeRole, "destroy preview "+name); err != nil {
		s.fail(w, r, err)
		return
	}
	go func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := s.cfg.API.DestroyPreview(c, who, name); err != nil {
			s.log.Error("dashboard: destroy", "preview", name, "by", who.String(), "err", err)
		}
	}()
	http.Redirect(w, r, "/?done=destroyed", http.StatusSeeOther)
}

// shareTTLs are the lives a share link may be given here.
var shareTTLs = map[string]bool{"2h": true, "24h": true, "48h": true, "7d": true}

// createShare makes a share link and shows its URL, this once.
func (s *Server) createShare(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	c, cancel := ctx(r)
	defer cancel()
	name, ttl := r.PathValue("name"), r.PostFormValue("ttl")
	if !shareTTLs[ttl] {
		ttl = "48h"
	}
	made, err := s.cfg.API.CreateShare(c, who, name, httpapi.ShareBody{Email: r.PostFormValue("email"), TTL: ttl, Send: r.PostFormValue("send") == "1"})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, http.StatusCreated, "share-made", s.newPage(w, r, "Share link for "+name, "previews", struct {
		Name string
		Made httpapi.NewShare
	}{name, made}))
}

func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	c, cancel := ctx(r)
	defer cancel()
	name := r.PathValue("name")
	if _, err := s.cfg.API.RevokeShare(c, who, name, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/previews/"+url.PathEscape(name)+"?done=share-revoked#shares", http.StatusSeeOther)
}
