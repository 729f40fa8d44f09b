package access

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tandem-dev/tandem"
)

// Share links' lifetimes.
const (
	DefaultShareTTL = 48 * time.Hour
	MaxShareTTL     = 30 * 24 * time.Hour
	shareSends      = 5 // codes mailed for one link an hour
)

// CreateShare makes a share link to the preview called name for the
// person at email, valid for ttl (DefaultShareTTL if 0), and returns it
// with its URL, which holds its secret: shown once. With send, tandem also
// mails the URL to the person. The caller checks that by may share.
func (s *Server) CreateShare(ctx context.Context, by *tandem.Principal, name, email string, ttl time.Duration, send bool) (*tandem.ShareLink, string, error) {
	p, err := s.cfg.Previews.Preview(ctx, name)
	if err != nil {
		return nil, "", err
	}
	addr, ok := address(email)
	switch {
	case !ok:
		return nil, "", errf(tandem.EINVALID, "share: %q is not an email address", email)
	case ttl < 0 || ttl > MaxShareTTL:
		return nil, "", errf(tandem.EINVALID, "share: ttl %s: at most %s", ttl, MaxShareTTL)
	case ttl == 0:
		ttl = DefaultShareTTL
	}
	if s.cfg.Mail == nil {
		if person, err := s.store.PersonByEmail(ctx, addr); err != nil || !person.TOTP {
			return nil, "", errf(tandem.EUNSUPPORTED, "share: this server sends no mail (no smtp in tandem.yaml), so %s could not get a code", addr)
		}
	}
	now := s.now().UTC()
	link := &tandem.ShareLink{ID: tandem.NewID("s_"), Repo: p.Repo, Preview: p.Name, Email: addr, CreatedBy: by.String(),
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	secret := tandem.NewSecret("tdml_")
	if err := s.store.PutShare(ctx, link, tandem.HashSecret(secret)); err != nil {
		return nil, "", err
	}
	u := s.authURL("/share?k=" + url.QueryEscape(secret))
	until := link.ExpiresAt.Format(time.RFC3339)
	s.event(tandem.AccessEvent{Kind: "share.created", Actor: by.String(), Repo: p.Repo, Preview: p.Name, Subject: link.ID,
		Detail: "for " + addr + " until " + until})
	s.audit(p, tandem.AuditAccessGranted, by.String(), &tandem.AuditAccess{Person: addr, Via: "share-link", Expires: link.ExpiresAt})
	if send && s.cfg.Mail != nil {
		text := fmt.Sprintf("%s shared a preview with you: %s of %s, until %s.\n\nOpen it here:\n%s\n\nThe page asks for a code that tandem mails to this address.\n",
			by.String(), p.Name, p.Repo, until, u)
		if err := s.cfg.Mail.Send(ctx, addr, "A preview shared with you: "+p.Name, text); err != nil {
			return link, u, fmt.Errorf("the link was made, but not mailed: %w", err)
		}
	}
	return link, u, nil
}

// Shares lists the share links of the preview called name.
func (s *Server) Shares(ctx context.Context, name string) ([]*tandem.ShareLink, error) {
	p, err := s.cfg.Previews.Preview(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.store.Shares(ctx, p.Repo, p.Name)
}

// RevokeShare ends a share link of the preview called name, and the
// sessions it opened, at once.
func (s *Server) RevokeShare(ctx context.Context, by *tandem.Principal, name, id string) (*tandem.ShareLink, error) {
	link, err := s.store.Share(ctx, id)
	if err != nil {
		return nil, err
	}
	if link.Preview != name {
		return nil, errf(tandem.ENOTFOUND, "preview %s has no share link %s", name, id)
	}
	if err := s.store.RevokeShare(ctx, id, s.now().UTC()); err != nil {
		return nil, err
	}
	s.sessions.forget(func(c cached) bool { return c.p.Share != nil && c.p.Share.ID == id })
	s.event(tandem.AccessEvent{Kind: "share.revoked", Actor: by.String(), Repo: link.Repo, Preview: link.Preview, Subject: id, Detail: "for " + link.Email})
	if p, err := s.cfg.Previews.Preview(ctx, name); err == nil {
		s.audit(p, tandem.AuditAccessRevoked, by.String(), &tandem.AuditAccess{Person: link.Email, Via: "share-link"})
	}
	return s.store.Share(ctx, id)
}

// openLink reads the link whose secret a page or form carries.
func (s *Server) openLink(ctx context.Context, w http.ResponseWriter, secret string) (*tandem.ShareLink, bool) {
	link, err := s.store.ShareByHash(ctx, tandem.HashSecret(secret))
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND || secret == "":
		s.render(w, http.StatusNotFound, "message", view{Title: "Unknown link", Message: "This share link is not one tandem made. Check that it was copied whole."})
	case err != nil:
		s.fail(w, "read the link", err)
	case !link.LockedAt.IsZero():
		s.render(w, http.StatusGone, "message", view{Title: "Link locked",
			Message: "Too many wrong codes were tried with this link, so it is locked. Ask " + link.CreatedBy + " for a new one."})
	case !link.RevokedAt.IsZero():
		s.render(w, http.StatusGone, "message", view{Title: "Link revoked", Message: "This share link was revoked. Ask " + link.CreatedBy + " for a new one."})
	case !link.Valid(s.now()):
		s.render(w, http.StatusGone, "message", view{Title: "Link expired",
			Message: "This share link expired at " + link.ExpiresAt.UTC().Format("2006-01-02 15:04 MST") + ". Ask " + link.CreatedBy + " for a new one."})
	default:
		return link, true
	}
	return nil, false
}

// shareView is the share page of link.
func (s *Server) shareView(ctx context.Context, w http.ResponseWriter, r *http.Request, link *tandem.ShareLink, secret string) view {
	v := view{Title: "Open " + link.Preview, CSRF: s.csrf(w, r), Share: link, ShareKey: secret, Masked: mask(link.Email), Mail: s.cfg.Mail != nil}
	if person, err := s.store.PersonByEmail(ctx, link.Email); err == nil {
		v.TOTP = person.TOTP
	}
	return v
}

// sharePage asks whoever opens a link to show they have its address.
// Opening it sends nothing: mail clients and chat apps open links too.
func (s *Server) sharePage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx()
	defer cancel()
	secret := r.URL.Query().Get("k")
	link, ok := s.openLink(ctx, w, secret)
	if !ok {
		return
	}
	s.render(w, http.StatusOK, "share", s.shareView(ctx, w, r, link, secret))
}

// shareSend mails a code to the link's address.
func (s *Server) shareSend(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) || !s.mailing(w) {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	secret := r.PostFormValue("k")
	link, ok := s.openLink(ctx, w, secret)
	if !ok {
		return
	}
	v := s.shareView(ctx, w, r, link, secret)
	now := s.now()
	if !s.limits.allow("share-send:"+link.ID, shareSends, time.Hour, now) || !s.limits.allow("send-from:"+client(r), sendsPerClient, time.Hour, now) {
		v.Error = "Too many codes were asked for. Wait a while, then try again."
		s.render(w, http.StatusTooManyRequests, "share", v)
		return
	}
	err := s.mailCode(ctx, "share:"+link.ID, link.Email, "Your code for "+link.Preview,
		"Someone, hopefully you, opened the link to the preview "+link.Preview+" that "+link.CreatedBy+" shared with %s, at %s.\n\nYour code is %s. It works once, for %s.\n\nIf it was not you, ignore this mail.\n",
		link.Email, s.cfg.AuthHost)
	if err != nil {
		s.fail(w, "send a code", err)
		return
	}
	s.event(tandem.AccessEvent{Kind: "share.code_sent", Actor: "tandem", Repo: link.Repo, Preview: link.Preview, Subject: link.ID, Detail: "to " + link.Email})
	v.Code, v.Notice = "email", "A code is on its way to "+v.Masked+"."
	s.render(w, http.StatusOK, "share", v)
}

// shareVerify opens the preview for whoever has the right code: the one
// mailed, or their authenticator's. Wrong codes count towards the link's
// lock.
func (s *Server) shareVerify(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	secret := r.PostFormValue("k")
	link, ok := s.openLink(ctx, w, secret)
	if !ok {
		return
	}
	v := s.shareView(ctx, w, r, link, secret)
	now := s.now()
	if !s.limits.allow("try-from:"+client(r), triesPerClient, triesWindow, now) {
		v.Error = "Too many codes were tried. Wait a while, then try again."
		s.render(w, http.StatusTooManyRequests, "share", v)
		return
	}
	right, err := s.shareCodeRight(ctx, link, r.PostFormValue("kind"), r.PostFormValue("code"))
	if err != nil {
		s.fail(w, "check the code", err)
		return
	}
	after, err := s.store.ShareAttempt(ctx, link.ID, right, s.cfg.MaxTries, now.UTC())
	if err != nil {
		s.fail(w, "check the code", err)
		return
	}
	actor := "someone with the link to " + link.Email
	switch {
	case !right && !after.LockedAt.IsZero():
		s.sessions.forget(func(c cached) bool { return c.p.Share != nil && c.p.Share.ID == link.ID })
		s.event(tandem.AccessEvent{Kind: "share.locked", Actor: actor, Repo: link.Repo, Preview: link.Preview, Subject: link.ID,
			Detail: fmt.Sprintf("after %s", plural(after.Failures, "wrong code"))})
		s.openLink(ctx, w, secret) // says it is locked
		return
	case !right:
		s.event(tandem.AccessEvent{Kind: "share.failed", Actor: actor, Repo: link.Repo, Preview: link.Preview, Subject: link.ID,
			Detail: fmt.Sprintf("wrong code %d of %d", after.Failures, s.cfg.MaxTries)})
		v.Code = r.PostFormValue("kind")
		v.Error = fmt.Sprintf("That code is wrong or expired. %s left before this link locks.", plural(s.cfg.MaxTries-after.Failures, "try"))
		s.render(w, http.StatusUnauthorized, "share", v)
		return
	}
	pr := &tandem.Principal{Kind: tandem.PrincipalShare, Share: after, AuthTime: now, Method: "share-link"}
	s.event(tandem.AccessEvent{Kind: "share.used", Actor: pr.String(), Repo: link.Repo, Preview: link.Preview, Subject: link.ID,
		Detail: "opened with a code " + map[bool]string{true: "from an authenticator app", false: "sent by email"}[r.PostFormValue("kind") == "totp"]})
	ticket := s.tickets.issue(s.previewHost(link.Preview), who{shareID: link.ID, method: "share-link", authTime: now}, now)
	http.Redirect(w, r, s.previewURL(link.Preview, sessionPath+"?ticket="+url.QueryEscape(ticket)+"&rd=/"), http.StatusSeeOther)
}

// shareCodeRight checks a code for a link: its person's authenticator's
// (kind "totp"), or the one mailed for it.
func (s *Server) shareCodeRight(ctx context.Context, link *tandem.ShareLink, kind, code string) (bool, error) {
	if kind == "totp" {
		_, ok, err := s.totpPerson(ctx, link.Email, code)
		return ok, err
	}
	return s.store.UseCode(ctx, "share:"+link.ID, tandem.HashSecret(cleanCode(code)), s.cfg.MaxTries, s.now())
}
