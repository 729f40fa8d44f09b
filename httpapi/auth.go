package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// Authenticator turns a request into the principal behind it. It answers
// (nil, nil) for a request that carries nothing it knows, and an error
// (EUNAUTHORIZED) for one that carries something bad: an unknown token,
// an expired session. Package access provides one for the dashboard's
// session cookie.
type Authenticator func(*http.Request) (*tandem.Principal, error)

type principalKey struct{}

// WithPrincipal returns ctx carrying p, the principal of a request.
func WithPrincipal(ctx context.Context, p *tandem.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, or nil.
func PrincipalFrom(ctx context.Context) *tandem.Principal {
	p, _ := ctx.Value(principalKey{}).(*tandem.Principal)
	return p
}

// BearerToken authenticates "Authorization: Bearer TOKEN" with the API
// tokens of store. The scheme is case-insensitive (RFC 9110 §11.1).
func BearerToken(store tandem.AccessStore, now func() time.Time) Authenticator {
	return func(r *http.Request) (*tandem.Principal, error) {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			return nil, nil
		}
		scheme, secret, _ := strings.Cut(auth, " ")
		secret = strings.TrimSpace(secret)
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			return nil, tandem.Errorf(tandem.EUNAUTHORIZED, "this API takes \"Authorization: Bearer TOKEN\", not a %q scheme", scheme)
		}
		return tandem.TokenPrincipal(r.Context(), store, secret, now())
	}
}

// errNoCredentials is the refusal of a request that says nothing of who
// sends it.
var errNoCredentials = tandem.Errorf(tandem.EUNAUTHORIZED,
	"this API needs a token: send \"Authorization: Bearer TOKEN\" with a token of yours (tandem login, or tandem token create) or the server's DATA/api-token")

// authenticate lets through the requests whose principal one of authns
// finds, with it in their context; the others get 401 and the error
// envelope. The first authenticator that knows a request decides.
func authenticate(authns []Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, authn := range authns {
			p, err := authn(r)
			if err != nil {
				refuse(w, err)
				return
			}
			if p != nil {
				next.ServeHTTP(w, withPrincipal(r, p))
				return
			}
		}
		refuse(w, errNoCredentials)
	})
}

func refuse(w http.ResponseWriter, err error) {
	if tandem.ErrorCode(err) == tandem.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
	}
	writeError(w, err)
}

// asRoot gives every request the root principal: the API on DATA/api.sock,
// which only root can connect to.
func asRoot(next http.Handler) http.Handler {
	root := &tandem.Principal{Kind: tandem.PrincipalRoot}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, withPrincipal(r, root))
	})
}

// allow reports whether the request's principal may act as need in repo,
// and refuses the request (403, naming what it may not do) if not.
func allow(w http.ResponseWriter, r *http.Request, repo string, need tandem.Role, doing string) bool {
	if err := Allowed(PrincipalFrom(r.Context()), repo, need, doing); err != nil {
		writeError(w, err)
		return false
	}
	return true
}

// Allowed is the one decision of whether p may act as need in repo, for
// the API and the dashboard alike: nil, or EFORBIDDEN naming what p may not
// do ("doing": "destroy preview pr-7") and the role it takes.
func Allowed(p *tandem.Principal, repo string, need tandem.Role, doing string) error {
	if p.Can(repo, need) {
		return nil
	}
	where := "in repository " + repo
	if repo == tandem.AllRepos {
		where = "in every repository"
	}
	return tandem.Errorf(tandem.EFORBIDDEN, "%s may not %s: that needs the role %s %s", p, doing, need, where)
}
