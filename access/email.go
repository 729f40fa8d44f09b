package access

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// Rate limits. Codes are six digits: what keeps them from being guessed is
// their few tries (Config.MaxTries, counted by the store) and these.
const (
	sendsPerAddress = 5 // codes mailed to one address an hour
	sendsPerClient  = 20
	triesPerClient  = 30 // codes tried by one client in ten minutes
	triesWindow     = 10 * time.Minute
)

// newCode is six random digits.
func newCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("%06d", n.Int64())
}

// cleanCode reads a code as people type it: "123 456", "123-456".
func cleanCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// address reads an email address as typed: bare, lower-case.
func address(s string) (string, bool) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || a.Name != "" || len(a.Address) > 254 {
		return "", false
	}
	return strings.ToLower(a.Address), true
}

// mask shows enough of an address to recognise it: "al***@client.example".
func mask(addr string) string {
	local, domain, _ := strings.Cut(addr, "@")
	if len(local) > 2 {
		local = local[:2]
	}
	return local + "***@" + domain
}

// mayUseEmail reports whether a code may be sent to addr for signing in:
// a grant names it or its domain, or tandem knows the person. tandem sends
// nothing to any other address, and says the same either way.
func (s *Server) mayUseEmail(ctx context.Context, addr string) (bool, error) {
	grants, err := s.store.Grants(ctx)
	if err != nil {
		return false, err
	}
	for _, g := range grants {
		if g.Group == "" && g.Matches(&tandem.Person{Email: addr}) {
			return true, nil
		}
	}
	_, err = s.store.PersonByEmail(ctx, addr)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return false, nil
	}
	return err == nil, err
}

// sendSigninCode mails a one-time code for signing in.
func (s *Server) sendSigninCode(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) || !s.mailing(w) {
		return
	}
	rd := r.PostFormValue("rd")
	v := s.signinView(w, r, rd, r.PostFormValue("reauth") == "1")
	addr, ok := address(r.PostFormValue("email"))
	if !ok {
		v.Error = "That is not an email address."
		s.render(w, http.StatusBadRequest, "signin", v)
		return
	}
	now := s.now()
	if !s.limits.allow("send:"+addr, sendsPerAddress, time.Hour, now) || !s.limits.allow("send-from:"+client(r), sendsPerClient, time.Hour, now) {
		v.Error = "Too many codes were asked for. Wait a while, then try again."
		s.render(w, http.StatusTooManyRequests, "signin", v)
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	may, err := s.mayUseEmail(ctx, addr)
	if err != nil {
		s.fail(w, "send a code", err)
		return
	}
	if may {
		if err := s.mailCode(ctx, "email:"+addr, addr, "Your tandem sign-in code",
			"Someone, hopefully you, asked to sign in to tandem at %s as %s.\n\nYour code is %s. It works once, for %s.\n\nIf it was not you, ignore this mail.\n",
			s.cfg.AuthHost, addr); err != nil {
			s.fail(w, "send a code", err)
			return
		}
	} else {
		s.log.Info("access: no code sent: no grant names the address", "email", addr)
	}
	v.Email, v.Notice = addr, "If "+addr+" may sign in here, a code is on its way to it."
	s.render(w, http.StatusOK, "code", v)
}

// mailCode stores a new code for key and mails it; text has %s for the
// host, the address, the code and how long it lives.
func (s *Server) mailCode(ctx context.Context, key, to, subject, text string, args ...any) error {
	code := newCode()
	if err := s.store.PutCode(ctx, key, tandem.HashSecret(code), s.now().Add(s.cfg.CodeTTL)); err != nil {
		return err
	}
	return s.cfg.Mail.Send(ctx, to, subject, fmt.Sprintf(text, append(args, code, minutes(s.cfg.CodeTTL))...))
}

// checkSigninCode signs in whoever has the code mailed to an address.
func (s *Server) checkSigninCode(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	rd := r.PostFormValue("rd")
	v := s.signinView(w, r, rd, r.PostFormValue("reauth") == "1")
	addr, ok := address(r.PostFormValue("email"))
	v.Email = addr
	if !ok {
		v.Error = "That is not an email address."
		s.render(w, http.StatusBadRequest, "signin", v)
		return
	}
	now := s.now()
	if !s.limits.allow("try-from:"+client(r), triesPerClient, triesWindow, now) {
		v.Error = "Too many codes were tried. Wait a while, then try again."
		s.render(w, http.StatusTooManyRequests, "code", v)
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	ok, err := s.store.UseCode(ctx, "email:"+addr, tandem.HashSecret(cleanCode(r.PostFormValue("code"))), s.cfg.MaxTries, now)
	if err != nil {
		s.fail(w, "check the code", err)
		return
	}
	if !ok {
		v.Error = fmt.Sprintf("That code is wrong or expired. After %s a code stops working: then ask for a new one.", plural(s.cfg.MaxTries, "wrong try"))
		s.render(w, http.StatusUnauthorized, "code", v)
		return
	}
	person, err := s.emailPerson(ctx, addr)
	if err != nil {
		s.fail(w, "record the sign-in", err)
		return
	}
	s.signedIn(w, r, person, "email-code", now, rd)
}

// emailPerson finds or makes the person of a confirmed address.
func (s *Server) emailPerson(ctx context.Context, addr string) (*tandem.Person, error) {
	p, err := s.store.PersonByEmail(ctx, addr)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return &tandem.Person{ID: tandem.NewID("p_"), Email: addr, Name: addr, CreatedAt: s.now().UTC()}, nil
	}
	return p, err
}

// checkSigninTOTP signs in a person with the code of the authenticator
// app they enrolled.
func (s *Server) checkSigninTOTP(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	rd := r.PostFormValue("rd")
	v := s.signinView(w, r, rd, r.PostFormValue("reauth") == "1")
	addr, _ := address(r.PostFormValue("email"))
	v.Email = addr
	now := s.now()
	if !s.limits.allow("totp:"+addr, s.cfg.MaxTries, 15*time.Minute, now) || !s.limits.allow("try-from:"+client(r), triesPerClient, triesWindow, now) {
		v.Error = "Too many codes were tried. Wait a while, then try again."
		s.render(w, http.StatusTooManyRequests, "signin", v)
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	person, ok, err := s.totpPerson(ctx, addr, r.PostFormValue("code"))
	if err != nil {
		s.fail(w, "check the code", err)
		return
	}
	if !ok {
		v.Error = "That email address and code do not match an enrolled authenticator app."
		s.render(w, http.StatusUnauthorized, "signin", v)
		return
	}
	s.signedIn(w, r, person, "totp", now, rd)
}

// totpPerson returns the person of addr if code is their authenticator's
// current code.
func (s *Server) totpPerson(ctx context.Context, addr, code string) (*tandem.Person, bool, error) {
	person, err := s.store.PersonByEmail(ctx, addr)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND || err == nil && !person.TOTP {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	secret, err := s.store.TOTPSecret(ctx, person.ID)
	if err != nil {
		return nil, false, err
	}
	return person, s.pending.check(person.ID, secret, code, s.now()), nil
}

// minutes says a duration as people do: "10 minutes".
func minutes(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	if m < 1 {
		m = 1
	}
	return plural(m, "minute")
}

// mailing answers, when this server sends no mail, that it does not.
func (s *Server) mailing(w http.ResponseWriter) bool {
	if s.cfg.Mail != nil {
		return true
	}
	s.render(w, http.StatusNotImplemented, "message", view{Title: "No mail", Message: "This server sends no mail: sign in another way."})
	return false
}
