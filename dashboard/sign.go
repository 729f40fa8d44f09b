package dashboard

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/review"
)

// Signing (21 CFR 11.50, 11.200): the page shows what the signature will
// say (the printed name, the meaning, what is signed) before anything is
// signed, and every signature made here follows a proof of who is signing
// made for it: a sign-in again at the sign-in host, which the browser
// comes back from to sign, or a code given with the signature (the
// person's authenticator app's, or one mailed to them for it).

// pendingTTL bounds the trip to re-authenticate and back.
const pendingTTL = 10 * time.Minute

// pending is a signature waiting for its signer's re-authentication.
type pending struct {
	personID string
	name     string
	req      review.SignRequest
	started  time.Time
}

type pendings struct {
	mu sync.Mutex
	m  map[string]pending
}

// maxPending bounds the signatures waiting at once, and so the memory
// that asking to sign, again and again, could take.
const maxPending = 10_000

func (ps *pendings) put(p pending) (string, error) {
	id := tandem.NewID("sig_")
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[string]pending{}
	}
	for k, v := range ps.m {
		if time.Since(v.started) > pendingTTL {
			delete(ps.m, k)
		}
	}
	if len(ps.m) >= maxPending {
		return "", tandem.Errorf(tandem.EUNAVAILABLE, "too many signatures wait for their signers now: try again in a few minutes")
	}
	ps.m[id] = p
	return id, nil
}

// get returns the pending signature id of who, for the preview name.
func (ps *pendings) get(id string, who *tandem.Principal, name string) (pending, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.m[id]
	return p, ok && who.Person != nil && p.personID == who.Person.ID && p.name == name && time.Since(p.started) <= pendingTTL
}

func (ps *pendings) drop(id string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.m, id)
}

// signData is what a sign page shows.
type signData struct {
	P           *tandem.Preview
	St          *tandem.ReviewState
	Stage       tandem.ReviewStage
	Meaning     tandem.SignatureMeaning
	Meanings    []tandem.SignatureMeaning // the stage's own, and rejected
	PrintedName string
	Identity    string
	Comment     string
	ID          string // a pending signature's, after re-authentication
	Fresh       bool   // the person re-authenticated for it
	Sent        bool   // a code was mailed
}

// signView reads what is about to be signed: the stage of the review of
// the preview the path names.
func (s *Server) signView(w http.ResponseWriter, r *http.Request, stage string, meaning tandem.SignatureMeaning) (*signData, bool) {
	p, ok := s.viewPreview(w, r, tandem.RoleViewer, "view preview")
	if !ok || !s.reviewing(w, r) {
		return nil, false
	}
	c, cancel := ctx(r)
	defer cancel()
	st, err := s.reviews().Status(c, p.Name)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	who := s.who(r)
	d := &signData{P: p, St: st, Meaning: meaning, PrintedName: who.Person.Name, Identity: who.Person.Email}
	if strings.TrimSpace(d.PrintedName) == "" {
		d.PrintedName = who.Person.Email
	}
	for _, ss := range st.Stages {
		if ss.Stage.Name == stage {
			d.Stage = ss.Stage
		}
	}
	if d.Stage.Name == "" {
		s.fail(w, r, tandem.Errorf(tandem.ENOTFOUND, "no stage %q in the review plan of %s", stage, p.Name))
		return nil, false
	}
	// The review service decides at the signature; nobody it would refuse
	// for their roles is asked to sign in again for nothing.
	if !d.Stage.Admits(who, p.Repo) {
		s.fail(w, r, tandem.Errorf(tandem.EFORBIDDEN, "%s may not sign stage %s of %s: it takes the role %s in %s, and the groups or people the plan names",
			who, d.Stage.Name, p.Name, d.Stage.Role, p.Repo))
		return nil, false
	}
	d.Meanings = []tandem.SignatureMeaning{d.Stage.Meaning, tandem.MeaningRejected}
	if d.Meaning != tandem.MeaningRejected {
		d.Meaning = d.Stage.Meaning
	}
	return d, true
}

func (s *Server) signPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d, ok := s.signView(w, r, q.Get("stage"), tandem.SignatureMeaning(q.Get("meaning")))
	if !ok {
		return
	}
	d.Sent = q.Get("sent") == "1"
	s.render(w, http.StatusOK, "sign", s.newPage(w, r, "Sign stage "+d.Stage.Name+" of "+d.P.Name, "previews", d))
}

// signRequest reads a sign form.
func signRequest(r *http.Request) review.SignRequest {
	gen, _ := strconv.Atoi(r.PostFormValue("generation"))
	return review.SignRequest{Stage: r.PostFormValue("stage"), Meaning: tandem.SignatureMeaning(r.PostFormValue("meaning")),
		Comment: strings.TrimSpace(r.PostFormValue("comment")), Code: strings.TrimSpace(r.PostFormValue("code")), Generation: gen}
}

// signWithCode signs with a code given in the form.
func (s *Server) signWithCode(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	req := signRequest(r)
	if req.Code == "" {
		s.fail(w, r, tandem.Errorf(tandem.EUNAUTHORIZED, "give your authenticator app's code, or one mailed to you, or confirm it is you by signing in again"))
		return
	}
	s.sign(w, r, who, req)
}

func (s *Server) sign(w http.ResponseWriter, r *http.Request, who *tandem.Principal, req review.SignRequest) {
	name := r.PathValue("name")
	if !s.reviewing(w, r) {
		return
	}
	if _, err := s.reviews().Sign(r.Context(), who, name, req); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/previews/"+url.PathEscape(name)+"/review?done=signed#stages", http.StatusSeeOther)
}

// signAfterReauth keeps the signature about to be given, and sends the
// browser to prove who it is; it comes back to signPending.
func (s *Server) signAfterReauth(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	name := r.PathValue("name")
	req := signRequest(r)
	req.Code = ""
	if _, ok := s.signView(w, r, req.Stage, req.Meaning); !ok {
		return
	}
	if who.Person == nil {
		s.fail(w, r, tandem.Errorf(tandem.EFORBIDDEN, "%s cannot sign: a signature is a person's", who))
		return
	}
	id, err := s.pending.put(pending{personID: who.Person.ID, name: name, req: req, started: s.cfg.Now()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	back := s.cfg.URL + "/previews/" + url.PathEscape(name) + "/review/sign/" + id
	http.Redirect(w, r, s.cfg.Auth.ReauthURL(back), http.StatusSeeOther)
}

// freshFor reports whether who's sign-in was made for the pending
// signature: after it was asked for (sign-in times have whole seconds).
func freshFor(who *tandem.Principal, p pending) bool {
	return !who.AuthTime.Before(p.started.Truncate(time.Second))
}

// signPending shows a pending signature once more, for the signer, back
// from proving who they are, to sign it.
func (s *Server) signPending(w http.ResponseWriter, r *http.Request) {
	who := s.who(r)
	p, ok := s.pending.get(r.PathValue("id"), who, r.PathValue("name"))
	if !ok {
		s.fail(w, r, tandem.Errorf(tandem.ENOTFOUND, "this signature was given already, or asked for more than %s ago: start again from the review", pendingTTL))
		return
	}
	d, ok := s.signView(w, r, p.req.Stage, p.req.Meaning)
	if !ok {
		return
	}
	d.ID, d.Comment, d.Fresh = r.PathValue("id"), p.req.Comment, freshFor(who, p)
	s.render(w, http.StatusOK, "sign", s.newPage(w, r, "Sign stage "+d.Stage.Name+" of "+d.P.Name, "previews", d))
}

// signPendingNow gives a pending signature, if its signer proved who
// they are for it.
func (s *Server) signPendingNow(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	id := r.PathValue("id")
	p, ok := s.pending.get(id, who, r.PathValue("name"))
	switch {
	case !ok:
		s.fail(w, r, tandem.Errorf(tandem.ENOTFOUND, "this signature was given already, or asked for more than %s ago: start again from the review", pendingTTL))
		return
	case !freshFor(who, p):
		s.fail(w, r, tandem.Errorf(tandem.EUNAUTHORIZED, "you have not signed in again since you asked to sign: confirm it is you first"))
		return
	}
	s.pending.drop(id)
	s.sign(w, r, who, p.req)
}

// sendCode mails the person a code to sign a stage with.
func (s *Server) sendCode(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	name, stage := r.PathValue("name"), r.PostFormValue("stage")
	if !s.reviewing(w, r) {
		return
	}
	if err := s.reviews().SendCode(r.Context(), who, name, stage); err != nil {
		s.fail(w, r, err)
		return
	}
	q := url.Values{"stage": {stage}, "meaning": {r.PostFormValue("meaning")}, "sent": {"1"}}
	http.Redirect(w, r, "/previews/"+url.PathEscape(name)+"/review/sign?"+q.Encode(), http.StatusSeeOther)
}

// maxUpload bounds an evidence file uploaded through the dashboard.
const maxUpload = review.DefaultMaxUpload

// upload is a handler of a form with a file: form's, with room for it.
func (s *Server) upload(h func(http.ResponseWriter, *http.Request, *tandem.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxUpload+1<<20)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			s.fail(w, r, tandem.Errorf(tandem.EINVALID, "the upload: %v", err))
			return
		}
		defer r.MultipartForm.RemoveAll()
		if !s.cfg.Auth.CheckCSRF(r) {
			s.fail(w, r, tandem.Errorf(tandem.EFORBIDDEN, "this form was not sent from a page of the dashboard, or is too old: go back, reload the page and try again"))
			return
		}
		h(w, r, s.who(r))
	})
}

// addEvidence keeps an uploaded file as evidence of a checklist item.
func (s *Server) addEvidence(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	name, item := r.PathValue("name"), r.PostFormValue("item")
	if !s.reviewing(w, r) {
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		s.fail(w, r, tandem.Errorf(tandem.EINVALID, "choose a file to upload"))
		return
	}
	defer f.Close()
	gen, _ := strconv.Atoi(r.PostFormValue("generation"))
	if _, err := s.reviews().AddEvidence(r.Context(), who, name, review.EvidenceRequest{Item: item, Filename: fh.Filename, Generation: gen}, io.Reader(f)); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/previews/"+url.PathEscape(name)+"/review?done=recorded#item-"+url.PathEscape(item), http.StatusSeeOther)
}
