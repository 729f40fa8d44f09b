package access

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
)

// OAuthRelay is an OAuth provider an application in a preview signs people
// in with, through one callback URL for every preview (providers cannot
// list one per preview): https://AUTH/oauth/PROVIDER/callback.
//
// The application sends the browser to
// PREVIEW_URL/__tandem/oauth/PROVIDER/authorize with the parameters it
// would send the provider, redirect_uri being the callback above. tandem
// keeps the application's state, puts "PREVIEW.ID" in its place, and sends
// the browser to the provider; the provider calls back on the sign-in
// host, which sends the browser to CallbackPath on that preview's host
// with the application's state back. A relayed state works once, for ten
// minutes, for the preview that asked.
type OAuthRelay struct {
	Provider     string // a name for URLs: "github"
	AuthorizeURL string // the provider's authorization endpoint
	// CallbackPath is where the application takes the callback on its
	// host; default /api/auth/callback/PROVIDER (NextAuth's).
	CallbackPath string
}

// Check checks a relay and fills in its default callback path.
func (o *OAuthRelay) Check() error {
	u, err := url.Parse(o.AuthorizeURL)
	switch {
	case o.Provider == "" || strings.ContainsAny(o.Provider, "/?#%. ") || len(o.Provider) > 64:
		return errf(tandem.EINVALID, "oauth: provider %q: a name for URLs", o.Provider)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return errf(tandem.EINVALID, "oauth %s: authorize_url %q is not an http(s) URL", o.Provider, o.AuthorizeURL)
	}
	if o.CallbackPath == "" {
		o.CallbackPath = "/api/auth/callback/" + o.Provider
	}
	if localPath(o.CallbackPath) != o.CallbackPath || strings.Contains(o.CallbackPath, "?") {
		return errf(tandem.EINVALID, "oauth %s: callback_path %q is not a path", o.Provider, o.CallbackPath)
	}
	return nil
}

// relay is an application's OAuth flow in progress.
type relay struct {
	preview, provider, state string
	expires                  time.Time
}

type relays struct {
	mu sync.Mutex
	m  map[string]relay
}

// CallbackURL is the one callback URL of provider: what to register at the
// provider, and what the application sends as redirect_uri.
func (s *Server) CallbackURL(provider string) string {
	return s.authURL("/oauth/" + provider + "/callback")
}

func (s *Server) relayFor(provider string) (OAuthRelay, bool) {
	for _, o := range s.cfg.OAuth {
		if o.Provider == provider {
			return o, true
		}
	}
	return OAuthRelay{}, false
}

// relayAuthorize sends a preview's authorization request on to the
// provider, with tandem's state in place of the application's.
func (s *Server) relayAuthorize(w http.ResponseWriter, r *http.Request, p Preview) {
	o, ok := s.relayFor(r.PathValue("provider"))
	if !ok {
		http.Error(w, "no OAuth provider "+r.PathValue("provider")+" in tandem.yaml", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	if q.Get("redirect_uri") != s.CallbackURL(o.Provider) {
		http.Error(w, "redirect_uri must be "+s.CallbackURL(o.Provider), http.StatusBadRequest)
		return
	}
	id := tandem.NewSecret("")
	now := s.now()
	s.relays.mu.Lock()
	if s.relays.m == nil {
		s.relays.m = map[string]relay{}
	}
	for k, v := range s.relays.m {
		if now.After(v.expires) {
			delete(s.relays.m, k)
		}
	}
	s.relays.m[id] = relay{preview: p.Name, provider: o.Provider, state: q.Get("state"), expires: now.Add(flowTTL)}
	s.relays.mu.Unlock()
	q.Set("state", p.Name+"."+id)
	to, _ := url.Parse(o.AuthorizeURL)
	merged := to.Query()
	for k, vs := range q {
		merged[k] = vs
	}
	to.RawQuery = merged.Encode()
	noStore(w)
	http.Redirect(w, r, to.String(), http.StatusFound)
}

// relayCallback sends a provider's callback to the preview that asked.
func (s *Server) relayCallback(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	q := r.URL.Query()
	name, id, _ := strings.Cut(q.Get("state"), ".")
	s.relays.mu.Lock()
	rel, ok := s.relays.m[id]
	delete(s.relays.m, id)
	s.relays.mu.Unlock()
	o, known := s.relayFor(provider)
	if !ok || !known || rel.preview != name || rel.provider != provider || s.now().After(rel.expires) {
		s.render(w, http.StatusBadRequest, "message", view{Title: "Sign-in expired",
			Message: "tandem does not know this sign-in: it was used already, took longer than ten minutes, or did not start at a preview. Sign in again from the preview."})
		return
	}
	if rel.state == "" {
		q.Del("state")
	} else {
		q.Set("state", rel.state)
	}
	s.log.Info("access: OAuth callback relayed", "provider", provider, "preview", name)
	http.Redirect(w, r, s.previewURL(name, o.CallbackPath+"?"+q.Encode()), http.StatusFound)
}
