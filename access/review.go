package access

import (
	"context"
	"net/http"
	"time"

	"github.com/tandem-dev/tandem"
)

// CaptureMethod is the Method of a session tandem opens for a reviewer's
// capture browser (ReviewerSession): the gate lets it in as that person,
// the access log and the first visit name them, and it signs nothing.
const CaptureMethod = "capture"

// captureSessionTTL bounds a capture session that is not ended.
const captureSessionTTL = 5 * time.Minute

// ReviewerSession opens a short session for person on the host of the
// preview called name, so that tandem's headless browser loads the
// preview as that person: the gate lets it in as them, and the access log
// attributes its requests to them. The caller ends it with end once the
// capture is done. Only a person's own request may open one (package
// review calls it for the caller).
func (s *Server) ReviewerSession(ctx context.Context, person *tandem.Person, name string) (*http.Cookie, func(), error) {
	if person == nil || person.ID == "" {
		return nil, nil, errf(tandem.EINVALID, "access: a capture session is for a person")
	}
	now := s.now().UTC()
	secret := tandem.NewSecret("tdms_")
	sess := &tandem.Session{
		ID: tandem.NewID("ses_"), PersonID: person.ID, Host: s.previewHost(name), Method: CaptureMethod,
		AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(captureSessionTTL),
	}
	if err := s.store.PutSession(ctx, sess, tandem.HashSecret(secret)); err != nil {
		return nil, nil, err
	}
	s.event(tandem.AccessEvent{Kind: "session.capture", Actor: person.Email, Preview: name, Subject: person.ID,
		Detail: "a headless browser opens the preview as " + person.Email + " to capture evidence"})
	end := func() {
		s.sessions.forget(func(c cached) bool { return c.sessionID == sess.ID })
		ctx, cancel := s.ctx()
		defer cancel()
		if err := s.store.DeleteSession(ctx, sess.ID); err != nil {
			s.log.Error("access: end a capture session", "preview", name, "err", err)
		}
	}
	return s.sessionCookie(secret, sess.ExpiresAt), end, nil
}

// reauthKey is the key of a signing code in the store: apart from
// sign-in codes, so that one cannot stand for the other.
func reauthKey(email string) string { return "reauth:" + email }

// SendReauthCode mails person a one-time code to sign with, saying what
// they are about to sign ("stage qa of pr-7 at 1a2b3c4"): how someone
// without an authenticator app re-authenticates from the CLI or the API.
func (s *Server) SendReauthCode(ctx context.Context, person *tandem.Person, what string) error {
	if s.cfg.Mail == nil {
		return errf(tandem.EUNSUPPORTED, "this server sends no mail: sign with your authenticator app's code")
	}
	now := s.now()
	if !s.limits.allow("send:"+person.Email, sendsPerAddress, time.Hour, now) {
		return errf(tandem.EFORBIDDEN, "too many codes were asked for %s: wait a while, then try again", person.Email)
	}
	err := s.mailCode(ctx, reauthKey(person.Email), person.Email, "Your tandem signing code",
		"You asked to sign %s in tandem at %s.\n\nYour code is %s. It works once, for %s.\n\nIf it was not you, pass it to nobody: someone may be trying to sign in your name.\n",
		what, s.cfg.AuthHost)
	if err != nil {
		return err
	}
	s.event(tandem.AccessEvent{Kind: "reauth.code_sent", Actor: person.Email, Subject: person.ID, Detail: "to sign " + what})
	return nil
}

// Reauthenticate checks the code a person gives with a signature (21 CFR
// 11.200): their authenticator app's current code, or the code
// SendReauthCode mailed them. It returns how ("totp", "email-code") and
// when; EUNAUTHORIZED for a wrong, used or expired code. Wrong codes count
// as they do at sign-in.
func (s *Server) Reauthenticate(ctx context.Context, person *tandem.Person, code string) (string, time.Time, error) {
	now := s.now()
	if person == nil || person.ID == "" {
		return "", time.Time{}, errf(tandem.EUNAUTHORIZED, "signing needs a person")
	}
	// The record, not what a cached principal says: an app enrolled or
	// removed a moment ago counts.
	p, err := s.store.Person(ctx, person.ID)
	if err != nil {
		return "", time.Time{}, err
	}
	if !s.limits.allow("reauth:"+p.ID, s.cfg.MaxTries, 15*time.Minute, now) {
		return "", time.Time{}, errf(tandem.EUNAUTHORIZED, "too many codes were tried for %s: wait a while, then try again", p.Email)
	}
	if p.TOTP {
		secret, err := s.store.TOTPSecret(ctx, p.ID)
		if err != nil {
			return "", time.Time{}, err
		}
		if s.pending.check(p.ID, secret, code, now) {
			s.event(tandem.AccessEvent{Kind: "person.reauthenticated", Actor: p.Email, Subject: p.ID, Detail: "with " + methodName("totp")})
			return "totp", now.UTC(), nil
		}
	}
	ok, err := s.store.UseCode(ctx, reauthKey(p.Email), tandem.HashSecret(cleanCode(code)), s.cfg.MaxTries, now)
	if err != nil {
		return "", time.Time{}, err
	}
	if ok {
		s.event(tandem.AccessEvent{Kind: "person.reauthenticated", Actor: p.Email, Subject: p.ID, Detail: "with " + methodName("email-code")})
		return "email-code", now.UTC(), nil
	}
	s.event(tandem.AccessEvent{Kind: "person.reauth_failed", Actor: p.Email, Subject: p.ID})
	return "", time.Time{}, errf(tandem.EUNAUTHORIZED, "that code is wrong, used or expired: give your authenticator app's current code, or ask for a new code by email")
}
