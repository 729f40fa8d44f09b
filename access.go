package tandem

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
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

// PreviewAccess says who may open a repository's previews.
type PreviewAccess string

const (
	AccessPrivate PreviewAccess = "private" // people with a role in the repository, share links, the bypass token
	AccessPublic  PreviewAccess = "public"  // whoever knows the URL
)

// ParsePreviewAccess reads an access setting; "" is "not said".
func ParsePreviewAccess(s string) (PreviewAccess, error) {
	switch a := PreviewAccess(s); a {
	case "", AccessPrivate, AccessPublic:
		return a, nil
	}
	return "", Errorf(EINVALID, "access %q: want private or public", s)
}

// EffectiveAccess is a preview's access from its repository's setting (in
// tandem.yaml) and its stack file's (x-tandem.preview.access): public only
// when the repository says public and the stack does not say private. The
// stack file comes from the pull request, so it may close a preview, never
// open one.
func EffectiveAccess(repo, stack PreviewAccess) PreviewAccess {
	if repo == AccessPublic && stack != AccessPrivate {
		return AccessPublic
	}
	return AccessPrivate
}

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

// String says what g gives, for people and events: "viewer in shop to
// domain corp.example".
func (g Grant) String() string {
	who := "email " + g.Email
	switch {
	case g.Domain != "":
		who = "domain " + g.Domain
	case g.Group != "":
		who = "group " + g.Group
	}
	return string(g.Role) + " in " + g.Repo + " to " + who
}

// ResolveRoles returns p's roles by repository (AllRepos for all) from the
// grants that match p, the highest where several do: the roles of a signed-in
// person, and of a token of a person's own, at the time of asking.
func ResolveRoles(grants []Grant, p *Person) map[string]Role {
	roles := map[string]Role{}
	for _, g := range grants {
		if g.Matches(p) && roleRank[g.Role] > roleRank[roles[g.Repo]] {
			roles[g.Repo] = g.Role
		}
	}
	return roles
}

// Token is an API token. Only a hash of its secret is kept; the secret is
// shown once, when it is made.
//
// A token has a role in a repository (or AllRepos), or, made by `tandem
// login`, belongs to a person (PersonID) and has no role of its own: it acts
// with that person's roles as the grants give them when it is used.
type Token struct {
	ID        string    `json:"id"` // "t_...": names it in lists, logs and events
	Name      string    `json:"name"`
	Role      Role      `json:"role,omitempty"`
	Repo      string    `json:"repo,omitempty"` // the repository it acts in, or AllRepos
	PersonID  string    `json:"person_id,omitempty"`
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

// TokenPrincipal is who presents the API token secret at now: the token's
// principal, or a person's (with their roles from the grants now) for a
// token of a person's own. EUNAUTHORIZED for an unknown, revoked or expired
// token; the message names the token by its ID, never by its secret. It
// records the use, coarsely: last-used once a minute, and a "token.used"
// event at the first use and after an hour unused.
func TokenPrincipal(ctx context.Context, s AccessStore, secret string, now time.Time) (*Principal, error) {
	t, err := s.TokenByHash(ctx, HashSecret(secret))
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, Errorf(EUNAUTHORIZED, "unknown API token")
	case err != nil:
		return nil, err
	case !t.RevokedAt.IsZero():
		return nil, Errorf(EUNAUTHORIZED, "API token %s was revoked", t.ID)
	case !t.Valid(now):
		return nil, Errorf(EUNAUTHORIZED, "API token %s expired at %s", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	p := &Principal{Kind: PrincipalToken, Token: t, Roles: map[string]Role{t.Repo: t.Role}}
	if t.PersonID != "" {
		person, err := s.Person(ctx, t.PersonID)
		if err != nil {
			return nil, err
		}
		grants, err := s.Grants(ctx)
		if err != nil {
			return nil, err
		}
		p = &Principal{Kind: PrincipalPerson, Person: person, Token: t, Roles: ResolveRoles(grants, person), Method: "token"}
	}
	if now.Sub(t.LastUsed) >= time.Minute {
		if err := s.TouchToken(ctx, t.ID, now); err != nil {
			return nil, err
		}
		if now.Sub(t.LastUsed) >= time.Hour {
			if _, err := s.AddAccessEvent(ctx, AccessEvent{Kind: "token.used", Actor: p.String(), Repo: t.Repo, Subject: t.ID}); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// HashSecret is how a secret tandem hands out (a token, a cookie's value,
// a share link's key, a one-time code) is kept and looked up: its SHA-256.
// A lookup by hash takes no time that depends on how much of a guess is right.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewSecret returns prefix and 32 random bytes, base64url: a token's or a
// cookie's secret. The prefix lets secret scanners recognise it.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// NewID returns prefix and 16 random characters (80 bits): a record's ID
// ("t_...", "p_..."), which is shown and is no secret.
func NewID(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.EncodeToString(b))
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

// DeviceAuth is a pending `tandem login`, as the OAuth 2.0 device
// authorization grant (RFC 8628) has it: the CLI polls with a device code
// (kept hashed), the person enters or confirms the user code on tandem's
// auth host, signs in there and approves, and the CLI's next poll gets a
// token of the person's own.
type DeviceAuth struct {
	// UserCode is what the person types or confirms: eight letters, shown
	// "BCDF-GHJK". Lookups ignore case, dashes and spaces.
	UserCode  string    `json:"user_code"`
	Client    string    `json:"client"` // what asked, as it says: "tandem CLI on build-7"
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// PersonID is who approved it, at ApprovedAt; DeniedAt is when the
	// person said it was not theirs. Both zero while pending.
	PersonID   string    `json:"person_id,omitempty"`
	ApprovedAt time.Time `json:"approved_at,omitzero"`
	DeniedAt   time.Time `json:"denied_at,omitzero"`
}

// DeviceVerificationPath is where, on tandem's auth host, a person enters a
// `tandem login`'s user code (RFC 8628's verification_uri); "?code=USER-CODE"
// fills it in.
const DeviceVerificationPath = "/device"

// AccessEvent is a change of who may do what, or a use of it: a sign-in, a
// token made, used or revoked, a grant added or removed, a share link made
// or tried. Kinds are "thing.verb": "token.created", "grant.removed".
type AccessEvent struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor"` // who did it: Principal.String(), or "tandem"
	Repo    string    `json:"repo,omitempty"`
	Preview string    `json:"preview,omitempty"`
	Subject string    `json:"subject,omitempty"` // what it is about: a token's or grant's ID, an email address
	Detail  string    `json:"detail,omitempty"`  // for people; never a secret
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
	// SessionByHash returns a live session: an expired one is ENOTFOUND.
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

	// PutDevice stores a new pending login with the hash of its device code.
	PutDevice(ctx context.Context, d *DeviceAuth, hash []byte) error
	// DeviceByUserCode returns the live login a user code names (ENOTFOUND
	// for none, or an expired one).
	DeviceByUserCode(ctx context.Context, userCode string) (*DeviceAuth, error)
	// ApproveDevice and DenyDevice record the person's answer to the login
	// userCode names: ENOTFOUND if none is live, ECONFLICT if answered.
	ApproveDevice(ctx context.Context, userCode, personID string, at time.Time) error
	DenyDevice(ctx context.Context, userCode string, at time.Time) error
	// TakeDevice returns the live login of a device code's hash as it is,
	// and removes it once answered, so that an approval yields one token.
	TakeDevice(ctx context.Context, hash []byte, at time.Time) (*DeviceAuth, error)

	// AddAccessEvent appends an event, setting its ID, and its time if zero.
	AddAccessEvent(ctx context.Context, e AccessEvent) (AccessEvent, error)
	// AccessEvents returns the events with an ID above after, oldest first,
	// at most limit (0: all).
	AccessEvents(ctx context.Context, after int64, limit int) ([]AccessEvent, error)
}
