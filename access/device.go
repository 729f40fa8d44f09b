package access

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/tandem-dev/tandem"
)

// devicePage is where a signed-in person confirms a `tandem login` by its
// user code (RFC 8628's verification URI).
func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx()
	defer cancel()
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	pr, _ := s.current(ctx, r)
	if pr == nil {
		here := s.authURL(tandem.DeviceVerificationPath + "?code=" + url.QueryEscape(code))
		http.Redirect(w, r, s.authURL("/signin?rd="+url.QueryEscape(here)), http.StatusSeeOther)
		return
	}
	v := view{Title: "Log in tandem on another device", CSRF: s.csrf(w, r), Person: pr.Person, Code: code}
	if code != "" {
		d, err := s.store.DeviceByUserCode(ctx, code)
		switch {
		case tandem.ErrorCode(err) == tandem.ENOTFOUND:
			v.Error = "No login waits for the code " + code + ": it may have expired. Run tandem login again."
		case err != nil:
			s.fail(w, "read the login", err)
			return
		default:
			v.Device = d
		}
	}
	s.render(w, http.StatusOK, "device", v)
}

// deviceAnswer approves or denies a `tandem login` as the person signed in.
func (s *Server) deviceAnswer(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pr, _ := s.current(ctx, r)
	if pr == nil {
		http.Redirect(w, r, s.authURL("/signin"), http.StatusSeeOther)
		return
	}
	code, approve := r.PostFormValue("code"), r.PostFormValue("answer") == "approve"
	d, err := s.store.DeviceByUserCode(ctx, code)
	if err == nil {
		if approve {
			err = s.store.ApproveDevice(ctx, code, pr.Person.ID, s.now().UTC())
		} else {
			err = s.store.DenyDevice(ctx, code, s.now().UTC())
		}
	}
	switch tandem.ErrorCode(err) {
	case "":
	case tandem.ENOTFOUND, tandem.ECONFLICT:
		s.render(w, http.StatusConflict, "message", view{Title: "Not done", Message: "This login was answered already, or expired: " + err.Error()})
		return
	default:
		s.fail(w, "answer the login", err)
		return
	}
	kind, msg := "login.denied", "The login was refused. If you did not start it, someone else has the code: tell an admin."
	if approve {
		kind, msg = "login.approved", "Done: go back to the terminal. "+d.Client+" now acts as "+pr.Person.Email+"."
	}
	s.event(tandem.AccessEvent{Kind: kind, Actor: pr.String(), Subject: d.UserCode, Detail: d.Client})
	s.render(w, http.StatusOK, "message", view{Title: "Login " + map[bool]string{true: "approved", false: "denied"}[approve], Message: msg})
}
