package access

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tandem-dev/tandem"
)

// totpOpts are authenticator apps' defaults (RFC 6238): six digits every
// 30 seconds, SHA-1; one step of clock drift either way is allowed.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// pending keeps TOTP secrets being enrolled, by session, and the last
// time step each person used, so a code seen over a shoulder cannot be
// used again.
type pending struct {
	mu      sync.Mutex
	secrets map[string]enrolment
	used    map[string]int64 // person ID → the last step accepted
}

type enrolment struct {
	secret  string
	expires time.Time
}

// check reports whether code is secret's code at now (within the skew),
// and newer than the last one the person used.
func (p *pending) check(personID, secret, code string, now time.Time) bool {
	code = cleanCode(code)
	if len(code) != 6 {
		return false
	}
	for _, d := range []int64{-1, 0, 1} {
		at := now.Add(time.Duration(d*int64(totpOpts.Period)) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		step := at.Unix() / int64(totpOpts.Period)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.used == nil {
			p.used = map[string]int64{}
		}
		if step <= p.used[personID] {
			return false
		}
		p.used[personID] = step
		return true
	}
	return false
}

func (p *pending) put(sessionID, secret string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.secrets == nil {
		p.secrets = map[string]enrolment{}
	}
	p.secrets[sessionID] = enrolment{secret: secret, expires: now.Add(flowTTL)}
}

func (p *pending) get(sessionID string, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.secrets[sessionID]
	return e.secret, ok && now.Before(e.expires)
}

func (p *pending) done(sessionID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.secrets, sessionID)
}

// totpPage shows a new secret to enroll, as a QR code and as text.
func (s *Server) totpPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx()
	defer cancel()
	pr, sid := s.current(ctx, r)
	if pr == nil {
		http.Redirect(w, r, s.authURL("/signin?rd="+url.QueryEscape(s.authURL("/totp"))), http.StatusSeeOther)
		return
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "tandem " + s.cfg.Domain, AccountName: pr.Person.Email,
		Period: uint(totpOpts.Period), Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		s.fail(w, "make a secret", err)
		return
	}
	img, err := key.Image(240, 240)
	var buf bytes.Buffer
	if err == nil {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		s.fail(w, "draw the QR code", err)
		return
	}
	s.pending.put(sid, key.Secret(), s.now())
	s.render(w, http.StatusOK, "totp", view{Title: "Authenticator app", CSRF: s.csrf(w, r), Person: pr.Person, TOTP: pr.Person.TOTP,
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), Secret: key.Secret(), URI: key.URL()})
}

// totpEnroll keeps the secret once the person shows a code from it.
func (s *Server) totpEnroll(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pr, sid := s.current(ctx, r)
	if pr == nil {
		http.Redirect(w, r, s.authURL("/signin"), http.StatusSeeOther)
		return
	}
	secret, ok := s.pending.get(sid, s.now())
	if !ok {
		http.Redirect(w, r, s.authURL("/totp"), http.StatusSeeOther)
		return
	}
	if !s.limits.allow("enroll:"+pr.Person.ID, 10, triesWindow, s.now()) || !s.pending.check(pr.Person.ID, secret, r.PostFormValue("code"), s.now()) {
		s.render(w, http.StatusUnauthorized, "message", view{Title: "Wrong code", Message: "That is not the app's current code for this secret.",
			Link: s.authURL("/totp"), LinkText: "Start again"})
		return
	}
	person := pr.Person
	if err := s.store.PutTOTPSecret(ctx, person.ID, secret); err != nil {
		s.fail(w, "keep the secret", err)
		return
	}
	person.TOTP = true
	if err := s.store.PutPerson(ctx, person); err != nil {
		s.fail(w, "keep the secret", err)
		return
	}
	s.pending.done(sid)
	s.sessions.forget(func(c cached) bool { return c.p.Person != nil && c.p.Person.ID == person.ID })
	s.event(tandem.AccessEvent{Kind: "totp.enrolled", Actor: person.Email, Subject: person.ID})
	s.render(w, http.StatusOK, "message", view{Title: "Authenticator app enrolled",
		Message: "From now on, the app's codes sign you in, and open share links sent to " + person.Email + ".",
		Link:    s.authURL("/"), LinkText: "Back"})
}
