package tandem

import (
	"context"
	"strings"
	"time"
)

// Role is what a person or an API token may do in a repository. Each role
// includes the ones before it: an approver is also a reviewer and a viewer.
type Role string

const (
	RoleViewer   Role = "viewer"   // may open previews
	RoleReviewer Role = "reviewer" // may record checklist results and evidence
	RoleApprover Role = "approver" // may sign approvals and rejections
	RoleAdmin    Role = "admin"    // may change people, roles, tokens and repositories
)

var roleRank = map[Role]int{RoleViewer: 1, RoleReviewer: 2, RoleApprover: 3, RoleAdmin: 4}

// Includes reports whether r may do what need may.
func (r Role) Includes(need Role) bool { return roleRank[r] > 0 && roleRank[r] >= roleRank[need] }

// ParseRole reads a role as people write it.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if roleRank[r] == 0 {
		return "", Errorf(EINVALID, "role %q: want viewer, reviewer, approver or admin", s)
	}
	return r, nil
}

// AllRepos is the repository name a grant or token uses to mean every one.
const AllRepos = "*"

// Person is someone tandem knows: signed in with single sign-on, or
// confirmed an email address with a one-time code.
type Person struct {
	ID    string `json:"id"`    // stable, tandem's own: "p_..."
	Email string `json:"email"` // lower-case
	// Name is the printed name a signature shows (21 CFR 11.50): from the
	// identity provider, or as the person gave it.
	Name string `json:"name"`
	// Issuer and Subject identify an SSO account (OIDC iss and sub); empty
	// for a person known by email alone.
	Issuer  string   `json:"issuer,omitempty"`
	Subject string   `json:"subject,omitempty"`
	Groups  []string `json:"groups,omitempty"` // from the last SSO sign-in
	// TOTP reports whether the person enrolled an authenticator app; its
	// secret is kept apart and never shown.
	TOTP      bool      `json:"totp"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
}

// Grant gives a role in a repository (or AllRepos) to one person by email,
// to everyone of an email domain, or to the members of an SSO group.
// Exactly one of Email, Domain and Group is set.
type Grant struct {
	ID     int64  `json:"id,omitempty"`
	Repo   string `json:"repo"`
	Role   Role   `json:"role"`
	Email  string `json:"email,omitempty"`
	Domain string `json:"domain,omitempty"` // "corp.example": every confirmed address @corp.example
	Group  string `json:"group,omitempty"`
	// Source says where the grant comes from: "config" (tandem.yaml,
	// replaced at every start) or "api" (kept until removed).
	Source string `json:"source"`
}

// Matches reports whether the grant applies to p.
func (g Grant) Matches(p *Person) bool {
	switch {
	case p == nil:
		return false
	case g.Email != "":
		return strings.EqualFold(g.Email, p.Email)
	case g.Domain != "":
		_, domain, ok := strings.Cut(p.Email, "@")
		return ok && strings.EqualFold(domain, g.Domain)
	case g.Group != "":
		for _, grp := range p.Groups {
			if grp == g.Group {
				return true
			}
		}
	}
	return false
}

// Token is an API token. Only a hash of its secret is kept; the secret is
// shown once, when it is made.
type Token struct {
	ID        string    `json:"id"` // "t_...": names it in lists, logs and events
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Repo      string    `json:"repo"` // the repository it acts in, or AllRepos
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
	LastUsed  time.Time `json:"last_used,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Valid reports whether the token may be used at now.
func (t *Token) Valid(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// ShareLink lets one person, by email address, open one preview, after a
// one-time code sent to that address (or their TOTP code).
type ShareLink struct {
	ID        string    `json:"id"` // "s_..."; the link's secret is apart, hashed
	Repo      string    `json:"repo"`
	Preview   string    `json:"preview"`
	Email     string    `json:"email"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Failures counts wrong codes in a row; at the configured limit the
	// link locks (LockedAt) until an admin makes a new one.
	Failures int       `json:"failures"`
	LockedAt time.Time `json:"locked_at,omitzero"`
	Uses     int       `json:"uses"`
}

// Valid reports whether the link may be used at now.
func (s *ShareLink) Valid(now time.Time) bool {
	return s.RevokedAt.IsZero() && s.LockedAt.IsZero() && now.Before(s.ExpiresAt)
}

// Session is a signed-in browser on one host: tandem's auth host, or one
// preview's host (a session never spans hosts, as oauth2-proxy's do not).
type Session struct {
	ID       string `json:"id"` // the cookie's value is apart, hashed
	PersonID string `json:"person_id,omitempty"`
	ShareID  string `json:"share_id,omitempty"` // a session a share link opened
	Host     string `json:"host"`
	// Method is how the person proved who they are: "oidc", "email-code",
	// "totp", "share-link".
	Method string `json:"method"`
	// AuthTime is when they last did, which signing checks (21 CFR 11.200).
	AuthTime  time.Time `json:"auth_time"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PrincipalKind says what stands behind a request.
type PrincipalKind string

const (
	PrincipalPerson PrincipalKind = "person" // a session of a signed-in person
	PrincipalToken  PrincipalKind = "token"  // an API token
	PrincipalShare  PrincipalKind = "share"  // a share link's session: one preview
	PrincipalBypass PrincipalKind = "bypass" // automation with the bypass header's token
	PrincipalRoot   PrincipalKind = "root"   // the owner of DATA/api.sock
)

// Principal is who is behind a request, as the API and the gateway decide
// it, and what it may do.
type Principal struct {
	Kind   PrincipalKind `json:"kind"`
	Person *Person       `json:"person,omitempty"`
	Token  *Token        `json:"token,omitempty"`
	Share  *ShareLink    `json:"share,omitempty"`
	// Roles are the principal's roles by repository (AllRepos for all).
	Roles map[string]Role `json:"roles,omitempty"`
	// AuthTime and Method: when and how a person last proved who they are.
	AuthTime time.Time `json:"auth_time,omitzero"`
	Method   string    `json:"method,omitempty"`
}

// Can reports whether p may act as need in repo. Root may do anything; a
// share link's principal may only view its one preview (see CanView).
func (p *Principal) Can(repo string, need Role) bool {
	if p == nil {
		return false
	}
	if p.Kind == PrincipalRoot {
		return true
	}
	return p.Roles[repo].Includes(need) || p.Roles[AllRepos].Includes(need)
}

// CanView reports whether p may open the preview called name of repo.
func (p *Principal) CanView(repo, name string) bool {
	if p != nil && p.Kind == PrincipalShare {
		return p.Share != nil && p.Share.Repo == repo && p.Share.Preview == name
	}
	return p.Can(repo, RoleViewer)
}

// String names the principal for logs, events and the audit trail: an
// email address, a token's name and id, never a secret.
func (p *Principal) String() string {
	switch {
	case p == nil:
		return "anonymous"
	case p.Kind == PrincipalPerson && p.Person != nil:
		return p.Person.Email
	case p.Kind == PrincipalToken && p.Token != nil:
		return "token " + p.Token.Name + " (" + p.Token.ID + ")"
	case p.Kind == PrincipalShare && p.Share != nil:
		return p.Share.Email + " (share link " + p.Share.ID + ")"
	}
	return string(p.Kind)
}

// AccessStore keeps people, grants, API tokens, sessions, share links and
// one-time codes: SQLite in the data directory by default. Secrets (token
// and cookie values, codes, TOTP secrets) are only ever stored hashed or,
// for TOTP, apart from every record that is shown. Lookups of something
// that does not exist return ENOTFOUND.
type AccessStore interface {
	// PutPerson creates or updates a person, by ID.
	PutPerson(ctx context.Context, p *Person) error
	Person(ctx context.Context, id string) (*Person, error)
	PersonByEmail(ctx context.Context, email string) (*Person, error)
	PersonBySubject(ctx context.Context, issuer, subject string) (*Person, error)
	People(ctx context.Context) ([]*Person, error)
	// TOTPSecret and PutTOTPSecret keep a person's authenticator secret.
	TOTPSecret(ctx context.Context, personID string) (string, error)
	PutTOTPSecret(ctx context.Context, personID, secret string) error

	// Grants lists every grant; ReplaceConfigGrants swaps those of Source
	// "config" for grants (at every start, from tandem.yaml).
	Grants(ctx context.Context) ([]Grant, error)
	AddGrant(ctx context.Context, g Grant) (Grant, error)
	DeleteGrant(ctx context.Context, id int64) error
	ReplaceConfigGrants(ctx context.Context, grants []Grant) error

	// PutToken stores a new token with the hash of its secret.
	PutToken(ctx context.Context, t *Token, hash []byte) error
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	Tokens(ctx context.Context) ([]*Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken records a use; it may be coarse (once a minute).
	TouchToken(ctx context.Context, id string, at time.Time) error

	PutSession(ctx context.Context, s *Session, hash []byte) error
	SessionByHash(ctx context.Context, hash []byte) (*Session, error)
	DeleteSession(ctx context.Context, id string) error

	// PutShare stores a new share link with the hash of its secret.
	PutShare(ctx context.Context, s *ShareLink, hash []byte) error
	ShareByHash(ctx context.Context, hash []byte) (*ShareLink, error)
	Share(ctx context.Context, id string) (*ShareLink, error)
	Shares(ctx context.Context, repo, preview string) ([]*ShareLink, error)
	RevokeShare(ctx context.Context, id string, at time.Time) error
	// ShareAttempt records a code tried on a link: a wrong one counts
	// towards the lock (locking it at max), a right one resets the count
	// and counts a use. It returns the link as it is afterwards.
	ShareAttempt(ctx context.Context, id string, ok bool, max int, at time.Time) (*ShareLink, error)

	// PutCode keeps a one-time code's hash for key (an email address, a
	// share link's id) until expires, replacing an earlier one.
	PutCode(ctx context.Context, key string, hash []byte, expires time.Time) error
	// UseCode reports whether hash is key's live code, and consumes it if
	// so. Wrong tries count; after max of them the code is gone.
	UseCode(ctx context.Context, key string, hash []byte, max int, at time.Time) (bool, error)
}
