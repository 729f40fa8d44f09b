package sqlite

import (
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func TestPeople(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	alice := &tandem.Person{Email: " Alice@Corp.Example", Name: "Alice Liddell", Issuer: "https://sso.corp.example",
		Subject: "248289761001", Groups: []string{"qa-leads", "staff"}, LastSeen: time.Date(2026, 11, 21, 9, 30, 15, 123456789, zone)}
	if err := db.PutPerson(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(alice.ID, "p_") || alice.Email != "alice@corp.example" || alice.CreatedAt.IsZero() {
		t.Fatalf("PutPerson did not fill in the ID, email and time: %+v", alice)
	}
	for name, get := range map[string]func() (*tandem.Person, error){
		"by id":      func() (*tandem.Person, error) { return db.Person(ctx, alice.ID) },
		"by email":   func() (*tandem.Person, error) { return db.PersonByEmail(ctx, "ALICE@corp.example") },
		"by subject": func() (*tandem.Person, error) { return db.PersonBySubject(ctx, alice.Issuer, alice.Subject) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.LastSeen.Equal(alice.LastSeen) || got.LastSeen.Location() != time.UTC || !got.CreatedAt.Equal(alice.CreatedAt) {
			t.Errorf("%s: times %v %v", name, got.LastSeen, got.CreatedAt)
		}
		got.LastSeen, got.CreatedAt = alice.LastSeen, alice.CreatedAt
		if !reflect.DeepEqual(got, alice) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, alice)
		}
	}
	for _, err := range []error{
		db.PutPerson(ctx, &tandem.Person{Email: "alice@corp.example"}),
		db.PutPerson(ctx, &tandem.Person{Email: "other@corp.example", Issuer: alice.Issuer, Subject: alice.Subject}),
	} {
		assertCode(t, err, tandem.ECONFLICT)
	}
	assertCode(t, db.PutPerson(ctx, &tandem.Person{Email: "nobody"}), tandem.EINVALID)
	assertCode(t, db.PutPerson(ctx, &tandem.Person{Email: "a@b.example", Issuer: "x"}), tandem.EINVALID)
	_, err := db.PersonByEmail(ctx, "bob@corp.example")
	assertCode(t, err, tandem.ENOTFOUND)
	_, err = db.PersonBySubject(ctx, "", "")
	assertCode(t, err, tandem.ENOTFOUND)

	// An update by ID; two people without SSO accounts do not collide.
	alice.Name = "Alice L."
	if err := db.PutPerson(ctx, alice); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"bob@corp.example", "aaron@corp.example"} {
		if err := db.PutPerson(ctx, &tandem.Person{Email: e}); err != nil {
			t.Fatal(err)
		}
	}
	people, err := db.People(ctx)
	if err != nil || len(people) != 3 || people[0].Email != "aaron@corp.example" || people[1].Name != "Alice L." {
		t.Fatalf("people: %+v %v", people, err)
	}
}

// The TOTP secret is apart: a person says whether they enrolled, never what.
func TestTOTPSecret(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	p := &tandem.Person{Email: "alice@corp.example"}
	if err := db.PutPerson(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err := db.TOTPSecret(ctx, p.ID)
	assertCode(t, err, tandem.ENOTFOUND)
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if err := db.PutTOTPSecret(ctx, p.ID, secret); err != nil {
		t.Fatal(err)
	}
	if got, err := db.TOTPSecret(ctx, p.ID); err != nil || got != secret {
		t.Fatalf("TOTPSecret: %q %v", got, err)
	}
	got, _ := db.Person(ctx, p.ID)
	people, _ := db.People(ctx)
	b, _ := json.Marshal([]any{got, people})
	if !got.TOTP || strings.Contains(string(b), secret) {
		t.Errorf("person: TOTP %v, %s", got.TOTP, b)
	}
	// Updating the person leaves the secret alone; "" removes it.
	if err := db.PutPerson(ctx, got); err != nil {
		t.Fatal(err)
	}
	if s, _ := db.TOTPSecret(ctx, p.ID); s != secret {
		t.Error("PutPerson lost the TOTP secret")
	}
	if err := db.PutTOTPSecret(ctx, p.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Person(ctx, p.ID); got.TOTP {
		t.Error("still enrolled after removal")
	}
	assertCode(t, db.PutTOTPSecret(ctx, "p_nobody", secret), tandem.ENOTFOUND)
}

func TestGrants(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for _, g := range []tandem.Grant{
		{Repo: "shop", Role: "viewer"},
		{Repo: "shop", Role: "viewer", Email: "a@x.example", Domain: "x.example"},
		{Repo: "shop", Role: "owner", Email: "a@x.example"},
		{Role: "viewer", Email: "a@x.example"},
		{Repo: "shop", Role: "viewer", Email: "not-an-address"},
		{Repo: "shop", Role: "viewer", Domain: "x.example/"},
		{Repo: "shop", Role: "viewer", Group: "qa", Source: "tandem"},
	} {
		if _, err := db.AddGrant(ctx, g); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%+v: %v", g, err)
		}
	}
	api, err := db.AddGrant(ctx, tandem.Grant{Repo: "shop", Role: "Approver", Group: "qa-leads"})
	if err != nil || api.ID == 0 || api.Source != "api" || api.Role != tandem.RoleApprover {
		t.Fatalf("add: %+v %v", api, err)
	}
	_, err = db.AddGrant(ctx, tandem.Grant{Repo: "shop", Role: "approver", Group: "qa-leads"})
	assertCode(t, err, tandem.ECONFLICT)

	config := []tandem.Grant{{Repo: tandem.AllRepos, Role: "viewer", Domain: "@Corp.Example"}, {Repo: "shop", Role: "admin", Email: "alice@corp.example"}}
	for range 2 { // every start replaces them
		if err := db.ReplaceConfigGrants(ctx, config); err != nil {
			t.Fatal(err)
		}
	}
	grants, err := db.Grants(ctx)
	if err != nil || len(grants) != 3 || grants[0].Domain != "corp.example" || grants[0].Source != "config" || grants[2] != api {
		t.Fatalf("grants: %+v %v", grants, err)
	}
	// One bad grant: none applied.
	assertCode(t, db.ReplaceConfigGrants(ctx, []tandem.Grant{{Repo: "shop", Role: "viewer", Group: "x"}, {Repo: "shop", Role: "boss", Group: "y"}}), tandem.EINVALID)
	if again, _ := db.Grants(ctx); !reflect.DeepEqual(again, grants) {
		t.Errorf("a refused replacement changed the grants: %+v", again)
	}

	assertCode(t, db.DeleteGrant(ctx, grants[0].ID), tandem.ECONFLICT)
	assertCode(t, db.DeleteGrant(ctx, 9999), tandem.ENOTFOUND)
	if err := db.DeleteGrant(ctx, api.ID); err != nil {
		t.Fatal(err)
	}

	// Roles as a person has them from what the store holds.
	grants, _ = db.Grants(ctx)
	alice := &tandem.Person{Email: "alice@corp.example", Groups: []string{"qa-leads"}}
	if got := tandem.ResolveRoles(grants, alice); !reflect.DeepEqual(got, map[string]tandem.Role{"*": "viewer", "shop": "admin"}) {
		t.Errorf("alice's roles: %v", got)
	}
}

func TestAccessEvents(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	_, err := db.AddAccessEvent(ctx, tandem.AccessEvent{Actor: "x"})
	assertCode(t, err, tandem.EINVALID)
	var ids []int64
	for _, k := range []string{"token.created", "grant.added", "token.revoked"} {
		e, err := db.AddAccessEvent(ctx, tandem.AccessEvent{Kind: k, Actor: "alice@corp.example", Repo: "shop", Subject: "t_x"})
		if err != nil || e.ID == 0 || e.Time.IsZero() {
			t.Fatalf("add: %+v %v", e, err)
		}
		ids = append(ids, e.ID)
	}
	all, err := db.AccessEvents(ctx, 0, 0)
	if err != nil || len(all) != 3 || all[1].Kind != "grant.added" || all[1].Actor != "alice@corp.example" || all[1].Time.Location() != time.UTC {
		t.Fatalf("events: %+v %v", all, err)
	}
	if page, _ := db.AccessEvents(ctx, ids[0], 1); len(page) != 1 || page[0].ID != ids[1] {
		t.Errorf("page: %+v", page)
	}
}

func newToken(t *testing.T, db *DB, tok *tandem.Token) string {
	t.Helper()
	if tok.ID == "" {
		tok.ID = tandem.NewID("t_")
	}
	secret := tandem.NewSecret("tdm_")
	if err := db.PutToken(t.Context(), tok, tandem.HashSecret(secret)); err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestTokens(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	hash := tandem.HashSecret("x")
	for _, tok := range []*tandem.Token{
		{ID: "t_a", Role: "viewer", Repo: "shop"},
		{ID: "t_a", Name: "ci", Repo: "shop"},
		{ID: "t_a", Name: "ci", PersonID: "p_x", Role: "admin"},
	} {
		assertCode(t, db.PutToken(ctx, tok, hash), tandem.EINVALID)
	}
	assertCode(t, db.PutToken(ctx, &tandem.Token{ID: "t_a", Name: "ci", Role: "viewer", Repo: "shop"}, []byte("short")), tandem.EINVALID)

	expires := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	ci := &tandem.Token{Name: "ci", Role: tandem.RoleReviewer, Repo: "shop", CreatedBy: "alice@corp.example", ExpiresAt: expires}
	secret := newToken(t, db, ci)
	assertCode(t, db.PutToken(ctx, ci, tandem.HashSecret("other")), tandem.ECONFLICT)

	got, err := db.TokenByHash(ctx, tandem.HashSecret(secret))
	if err != nil || got.ID != ci.ID || got.Role != "reviewer" || !got.ExpiresAt.Equal(expires) || !got.LastUsed.IsZero() {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	_, err = db.TokenByHash(ctx, tandem.HashSecret(secret+"x"))
	assertCode(t, err, tandem.ENOTFOUND)

	// Last use only moves forward.
	now := time.Now()
	for _, at := range []time.Time{now, now.Add(-time.Hour)} {
		if err := db.TouchToken(ctx, ci.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.TokenByHash(ctx, tandem.HashSecret(secret)); !got.LastUsed.Equal(now) {
		t.Errorf("last used %v, want %v", got.LastUsed, now)
	}
	// A second revocation keeps the first's time.
	for _, at := range []time.Time{now, now.Add(time.Hour)} {
		if err := db.RevokeToken(ctx, ci.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.TokenByHash(ctx, tandem.HashSecret(secret)); !got.RevokedAt.Equal(now) || got.Valid(now) {
		t.Errorf("revoked %v", got.RevokedAt)
	}
	assertCode(t, db.RevokeToken(ctx, "t_nope", now), tandem.ENOTFOUND)
	assertCode(t, db.TouchToken(ctx, "t_nope", now), tandem.ENOTFOUND)

	// The list shows neither the secret nor its hash.
	list, err := db.Tokens(ctx)
	b, _ := json.Marshal(list)
	if err != nil || len(list) != 1 || strings.Contains(string(b), secret) || strings.Contains(string(b), hex.EncodeToString(tandem.HashSecret(secret))) {
		t.Errorf("tokens: %s %v", b, err)
	}
}

// TokenPrincipal is what the API and the gateway's bypass header use.
func TestTokenPrincipal(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	now := time.Now()
	ci := &tandem.Token{Name: "ci", Role: tandem.RoleReviewer, Repo: "shop"}
	secret := newToken(t, db, ci)
	p, err := tandem.TokenPrincipal(ctx, db, secret, now)
	if err != nil || p.Kind != tandem.PrincipalToken || !p.Can("shop", tandem.RoleReviewer) || p.Can("shop", tandem.RoleApprover) || p.Can("blog", tandem.RoleViewer) {
		t.Fatalf("principal: %+v %v", p, err)
	}
	if p.String() != "token ci ("+ci.ID+")" {
		t.Errorf("String: %s", p)
	}
	// The use is recorded, once a minute at most; the event once an hour.
	for _, at := range []time.Time{now.Add(time.Second), now.Add(2 * time.Minute)} {
		if _, err := tandem.TokenPrincipal(ctx, db, secret, at); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.TokenByHash(ctx, tandem.HashSecret(secret)); !got.LastUsed.Equal(now.Add(2 * time.Minute)) {
		t.Errorf("last used %v", got.LastUsed)
	}
	if events, _ := db.AccessEvents(ctx, 0, 0); len(events) != 1 || events[0].Kind != "token.used" || events[0].Subject != ci.ID {
		t.Errorf("events: %+v", events)
	}

	_, err = tandem.TokenPrincipal(ctx, db, secret+"x", now)
	assertCode(t, err, tandem.EUNAUTHORIZED)
	expired := &tandem.Token{Name: "old", Role: "viewer", Repo: "shop", ExpiresAt: now.Add(-time.Second)}
	_, err = tandem.TokenPrincipal(ctx, db, newToken(t, db, expired), now)
	if assertCode(t, err, tandem.EUNAUTHORIZED); !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
	db.RevokeToken(ctx, ci.ID, now)
	_, err = tandem.TokenPrincipal(ctx, db, secret, now)
	if assertCode(t, err, tandem.EUNAUTHORIZED); !strings.Contains(err.Error(), "revoked") || strings.Contains(err.Error(), secret) {
		t.Errorf("revoked: %v", err)
	}

	// A person's token has their roles as the grants give them now.
	alice := &tandem.Person{Email: "alice@corp.example", Groups: []string{"qa"}}
	db.PutPerson(ctx, alice)
	mine := newToken(t, db, &tandem.Token{Name: "login", PersonID: alice.ID, CreatedBy: alice.Email})
	p, err = tandem.TokenPrincipal(ctx, db, mine, now)
	if err != nil || p.Kind != tandem.PrincipalPerson || p.Person.ID != alice.ID || p.Can("shop", tandem.RoleViewer) || p.String() != alice.Email {
		t.Fatalf("before a grant: %+v %v", p, err)
	}
	g, _ := db.AddGrant(ctx, tandem.Grant{Repo: "shop", Role: "approver", Group: "qa"})
	if p, _ = tandem.TokenPrincipal(ctx, db, mine, now); !p.Can("shop", tandem.RoleApprover) {
		t.Errorf("after a grant: %v", p.Roles)
	}
	db.DeleteGrant(ctx, g.ID)
	if p, _ = tandem.TokenPrincipal(ctx, db, mine, now); p.Can("shop", tandem.RoleViewer) {
		t.Errorf("after the grant went: %v", p.Roles)
	}
}

func TestSessions(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	now := time.Now()
	s := &tandem.Session{ID: "ses_1", PersonID: "p_a", Host: "auth.previews.example.com", Method: "oidc", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	assertCode(t, db.PutSession(ctx, &tandem.Session{ID: "ses_0", Host: "h", ExpiresAt: now.Add(time.Hour)}, tandem.HashSecret("c")), tandem.EINVALID)
	if err := db.PutSession(ctx, s, tandem.HashSecret("cookie")); err != nil {
		t.Fatal(err)
	}
	got, err := db.SessionByHash(ctx, tandem.HashSecret("cookie"))
	if err != nil || got.PersonID != "p_a" || got.Method != "oidc" || !got.AuthTime.Equal(now) || !got.ExpiresAt.Equal(s.ExpiresAt) {
		t.Fatalf("session: %+v %v", got, err)
	}
	old := &tandem.Session{ID: "ses_2", ShareID: "s_a", Host: "pr-7.previews.example.com", ExpiresAt: now.Add(-time.Second)}
	db.PutSession(ctx, old, tandem.HashSecret("old"))
	_, err = db.SessionByHash(ctx, tandem.HashSecret("old"))
	assertCode(t, err, tandem.ENOTFOUND)
	if err := db.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.SessionByHash(ctx, tandem.HashSecret("cookie"))
	assertCode(t, err, tandem.ENOTFOUND)
	if err := db.DeleteSession(ctx, s.ID); err != nil {
		t.Errorf("a second delete: %v", err)
	}
}

func newShare(t *testing.T, db *DB, id string) *tandem.ShareLink {
	t.Helper()
	s := &tandem.ShareLink{ID: id, Repo: "shop", Preview: "pr-7", Email: "Bob@Client.Example", CreatedBy: "alice@corp.example",
		ExpiresAt: time.Now().Add(48 * time.Hour)}
	if err := db.PutShare(t.Context(), s, tandem.HashSecret("link-"+id)); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShares(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	s := newShare(t, db, "s_1")
	newShare(t, db, "s_2")
	got, err := db.ShareByHash(ctx, tandem.HashSecret("link-s_1"))
	if err != nil || got.ID != "s_1" || got.Email != "bob@client.example" || !got.Valid(time.Now()) {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	if list, _ := db.Shares(ctx, "shop", "pr-7"); len(list) != 2 {
		t.Errorf("shares of pr-7: %d", len(list))
	}
	if list, _ := db.Shares(ctx, "shop", "pr-8"); len(list) != 0 {
		t.Errorf("shares of pr-8: %d", len(list))
	}
	if list, _ := db.Shares(ctx, "", ""); len(list) != 2 {
		t.Errorf("all shares: %d", len(list))
	}

	// Wrong codes count, a right one resets; at max the link locks and
	// then nothing counts, not even a right code.
	const max = 3
	at := time.Now()
	steps := []struct {
		ok             bool
		failures, uses int
		locked         bool
	}{{false, 1, 0, false}, {false, 2, 0, false}, {true, 0, 1, false}, {false, 1, 1, false}, {false, 2, 1, false}, {false, 3, 1, true}, {true, 3, 1, true}, {false, 3, 1, true}}
	for i, st := range steps {
		got, err := db.ShareAttempt(ctx, s.ID, st.ok, max, at)
		if err != nil || got.Failures != st.failures || got.Uses != st.uses || got.LockedAt.IsZero() == st.locked {
			t.Fatalf("step %d: %+v %v", i, got, err)
		}
	}
	if got, _ := db.Share(ctx, s.ID); got.Valid(at) || !got.LockedAt.Equal(at) {
		t.Errorf("locked link: %+v", got)
	}
	_, err = db.ShareAttempt(ctx, "s_nope", true, max, at)
	assertCode(t, err, tandem.ENOTFOUND)

	if err := db.RevokeShare(ctx, "s_2", at); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ShareAttempt(ctx, "s_2", true, max, at); got.Uses != 0 || got.Valid(at) {
		t.Errorf("a revoked link counted a use: %+v", got)
	}
}

func TestCodes(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	now := time.Now()
	right, wrong := tandem.HashSecret("123456"), tandem.HashSecret("654321")
	use := func(hash []byte, at time.Time) bool {
		t.Helper()
		ok, err := db.UseCode(ctx, "bob@client.example", hash, 3, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	put := func(expires time.Time) {
		t.Helper()
		if err := db.PutCode(ctx, "bob@client.example", right, expires); err != nil {
			t.Fatal(err)
		}
	}
	put(now.Add(10 * time.Minute))
	if use(wrong, now) || use(wrong, now) || !use(right, now) {
		t.Error("two wrong tries, then the right code")
	}
	if use(right, now) {
		t.Error("a code used twice")
	}
	put(now.Add(10 * time.Minute))
	if use(wrong, now) || use(wrong, now) || use(wrong, now) || use(right, now) {
		t.Error("the right code after three wrong tries")
	}
	// A new code starts a new count.
	put(now.Add(10 * time.Minute))
	if use(wrong, now) || use(wrong, now) || !use(right, now) {
		t.Error("a new code kept the old one's wrong tries")
	}
	put(now.Add(time.Minute))
	if use(right, now.Add(time.Minute)) {
		t.Error("an expired code")
	}
	if use(right, now) {
		t.Error("an expired code comes back")
	}
	if ok, err := db.UseCode(ctx, "nobody@x.example", right, 3, now); ok || err != nil {
		t.Errorf("no code: %v %v", ok, err)
	}
}

func TestDevices(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	now := time.Now()
	alice := &tandem.Person{Email: "alice@corp.example"}
	db.PutPerson(ctx, alice)
	d := &tandem.DeviceAuth{UserCode: "bcdf-ghjk", Client: "tandem CLI on ci-7", ExpiresAt: now.Add(10 * time.Minute)}
	hash := tandem.HashSecret("device-code")
	if err := db.PutDevice(ctx, d, hash); err != nil {
		t.Fatal(err)
	}
	assertCode(t, db.PutDevice(ctx, &tandem.DeviceAuth{UserCode: "BCDFGHJK", ExpiresAt: now.Add(time.Minute)}, tandem.HashSecret("other")), tandem.ECONFLICT)

	got, err := db.DeviceByUserCode(ctx, " bcdfghjk")
	if err != nil || got.UserCode != "BCDF-GHJK" || got.Client != d.Client || !got.ApprovedAt.IsZero() {
		t.Fatalf("by user code: %+v %v", got, err)
	}
	// Pending: the CLI's poll finds it, and it stays.
	for range 2 {
		if got, err := db.TakeDevice(ctx, hash, now); err != nil || got.PersonID != "" {
			t.Fatalf("pending: %+v %v", got, err)
		}
	}
	assertCode(t, db.ApproveDevice(ctx, "BCDF-GHJK", "p_nobody", now), tandem.ENOTFOUND)
	if err := db.ApproveDevice(ctx, "BCDF-GHJK", alice.ID, now); err != nil {
		t.Fatal(err)
	}
	assertCode(t, db.ApproveDevice(ctx, "BCDF-GHJK", alice.ID, now), tandem.ECONFLICT)
	assertCode(t, db.DenyDevice(ctx, "BCDF-GHJK", now), tandem.ECONFLICT)
	if got, err := db.TakeDevice(ctx, hash, now); err != nil || got.PersonID != alice.ID || !got.ApprovedAt.Equal(now) {
		t.Fatalf("approved: %+v %v", got, err)
	}
	_, err = db.TakeDevice(ctx, hash, now)
	assertCode(t, err, tandem.ENOTFOUND)

	// Denied, and expired.
	db.PutDevice(ctx, &tandem.DeviceAuth{UserCode: "LMNP-QRST", ExpiresAt: now.Add(time.Minute)}, hash)
	if err := db.DenyDevice(ctx, "lmnpqrst", now); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.TakeDevice(ctx, hash, now); got.DeniedAt.IsZero() || got.PersonID != "" {
		t.Errorf("denied: %+v", got)
	}
	db.PutDevice(ctx, &tandem.DeviceAuth{UserCode: "VWXZ-BCDF", ExpiresAt: now.Add(time.Minute)}, hash)
	assertCode(t, db.ApproveDevice(ctx, "VWXZ-BCDF", alice.ID, now.Add(time.Minute)), tandem.ENOTFOUND)
	_, err = db.TakeDevice(ctx, hash, now.Add(time.Minute))
	assertCode(t, err, tandem.ENOTFOUND)
}
