package access

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
)

// How long a principal found for a cookie (or a bypass token) is believed
// without asking the store again: a role removed, or a share link revoked
// through another server process, takes at most this long to apply. What
// this server revokes applies at once.
const principalCacheTTL = 30 * time.Second

// ticketTTL bounds the trip from the sign-in host to a preview's host.
const ticketTTL = time.Minute

// who is what a session is opened for: a person, or a share link.
type who struct {
	personID string
	shareID  string
	method   string // "oidc", "email-code", "totp", "share-link"
	authTime time.Time
}

// openSession stores a new session on host and returns the cookie that
// carries it.
func (s *Server) openSession(ctx context.Context, host string, w who) (*http.Cookie, error) {
	now := s.now().UTC()
	secret := tandem.NewSecret("tdms_")
	sess := &tandem.Session{
		ID: tandem.NewID("ses_"), PersonID: w.personID, ShareID: w.shareID, Host: host, Method: w.method,
		AuthTime: w.authTime.UTC(), CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL),
	}
	if err := s.store.PutSession(ctx, sess, tandem.HashSecret(secret)); err != nil {
		return nil, err
	}
	return s.sessionCookie(secret, sess.ExpiresAt), nil
}

// sessionCookie is tandem's cookie: host-only, HttpOnly, SameSite=Lax, for
// the whole host; Secure over TLS. An empty value removes it.
func (s *Server) sessionCookie(value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: s.cookie, Value: value, Path: "/", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// cached is a principal a cookie or token stood for when last looked up.
type cached struct {
	p         *tandem.Principal
	sessionID string
	host      string
	until     time.Time
}

// sessionCache keeps principals by the hash of what identified them.
type sessionCache struct {
	mu sync.Mutex
	m  map[string]cached
}

func (c *sessionCache) get(key string, now time.Time) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.After(e.until) {
		return cached{}, false
	}
	return e, true
}

func (c *sessionCache) put(key string, e cached, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cached{}
	}
	if len(c.m) > 50_000 {
		for k, v := range c.m {
			if now.After(v.until) {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = e
}

// forget drops what matches: a session signed out, a share link revoked.
func (c *sessionCache) forget(match func(cached) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		if match(v) {
			delete(c.m, k)
		}
	}
}

// sessionPrincipal returns who the session cookie value secret stands for
// on host, or nil for none: unknown, expired, of another host, or of a
// share link no longer valid.
func (s *Server) sessionPrincipal(ctx context.Context, host, secret string) (*tandem.Principal, string, error) {
	hash := tandem.HashSecret(secret)
	key := "s" + string(hash)
	now := s.now()
	if e, ok := s.sessions.get(key, now); ok {
		if e.host != host {
			return nil, "", nil
		}
		return e.p, e.sessionID, nil
	}
	sess, err := s.store.SessionByHash(ctx, hash)
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND:
		return nil, "", nil
	case err != nil:
		return nil, "", err
	case !now.Before(sess.ExpiresAt):
		return nil, "", nil
	}
	p, err := s.principalOf(ctx, sess)
	if err != nil || p == nil {
		return nil, "", err
	}
	until := now.Add(principalCacheTTL)
	if sess.ExpiresAt.Before(until) {
		until = sess.ExpiresAt
	}
	s.sessions.put(key, cached{p: p, sessionID: sess.ID, host: sess.Host, until: until}, now)
	if sess.Host != host {
		return nil, "", nil
	}
	return p, sess.ID, nil
}

// principalOf is the principal of a live session.
func (s *Server) principalOf(ctx context.Context, sess *tandem.Session) (*tandem.Principal, error) {
	if sess.ShareID != "" {
		sh, err := s.store.Share(ctx, sess.ShareID)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, nil
		}
		if err != nil || !sh.Valid(s.now()) {
			return nil, err
		}
		return &tandem.Principal{Kind: tandem.PrincipalShare, Share: sh, AuthTime: sess.AuthTime, Method: sess.Method}, nil
	}
	person, err := s.store.Person(ctx, sess.PersonID)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	grants, err := s.store.Grants(ctx)
	if err != nil {
		return nil, err
	}
	return &tandem.Principal{Kind: tandem.PrincipalPerson, Person: person, Roles: tandem.ResolveRoles(grants, person),
		AuthTime: sess.AuthTime, Method: sess.Method}, nil
}

// endSession signs a browser out of one host.
func (s *Server) endSession(ctx context.Context, host, secret string) error {
	_, id, err := s.sessionPrincipal(ctx, host, secret)
	if err != nil || id == "" {
		return err
	}
	s.sessions.forget(func(c cached) bool { return c.sessionID == id })
	return s.store.DeleteSession(ctx, id)
}

// ticket carries a sign-in from the sign-in host to one preview's host.
type ticket struct {
	host    string
	who     who
	expires time.Time
}

// tickets are held in memory only: a restart costs a sign-in in flight
// one more trip to the sign-in host.
type tickets struct {
	mu sync.Mutex
	m  map[string]ticket // by the hash of the ticket's secret
}

// issue returns a ticket's secret for host.
func (t *tickets) issue(host string, w who, now time.Time) string {
	secret := tandem.NewSecret("tdmt_")
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]ticket{}
	}
	for k, v := range t.m {
		if now.After(v.expires) {
			delete(t.m, k)
		}
	}
	t.m[string(tandem.HashSecret(secret))] = ticket{host: host, who: w, expires: now.Add(ticketTTL)}
	return secret
}

// redeem uses up a ticket for host: once, before it expires.
func (t *tickets) redeem(host, secret string, now time.Time) (who, bool) {
	key := string(tandem.HashSecret(secret))
	t.mu.Lock()
	defer t.mu.Unlock()
	tk, ok := t.m[key]
	delete(t.m, key)
	if !ok || tk.host != host || now.After(tk.expires) {
		return who{}, false
	}
	return tk.who, true
}
