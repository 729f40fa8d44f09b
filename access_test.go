package tandem

import (
	"reflect"
	"strings"
	"testing"
)

func TestResolveRoles(t *testing.T) {
	grants := []Grant{
		{Repo: AllRepos, Role: RoleViewer, Domain: "corp.example"},
		{Repo: "shop", Role: RoleApprover, Group: "qa-leads"},
		{Repo: "shop", Role: RoleReviewer, Email: "alice@corp.example"},
		{Repo: "blog", Role: RoleAdmin, Email: "bob@corp.example"},
	}
	for _, tc := range []struct {
		p    *Person
		want map[string]Role
	}{
		{&Person{Email: "alice@corp.example", Groups: []string{"qa-leads"}}, map[string]Role{AllRepos: RoleViewer, "shop": RoleApprover}},
		{&Person{Email: "Alice@CORP.example"}, map[string]Role{AllRepos: RoleViewer, "shop": RoleReviewer}},
		{&Person{Email: "carol@client.example", Groups: []string{"QA-Leads"}}, map[string]Role{}},
		{&Person{Email: "carol@corp.example.evil"}, map[string]Role{}},
		{nil, map[string]Role{}},
	} {
		if got := ResolveRoles(grants, tc.p); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.p, got, tc.want)
		}
	}
	p := &Principal{Kind: PrincipalPerson, Roles: ResolveRoles(grants, &Person{Email: "x@corp.example"})}
	if !p.Can("blog", RoleViewer) || p.Can("blog", RoleReviewer) {
		t.Errorf("a viewer of all: %v", p.Roles)
	}
}

// A pull request's stack file may close its preview, never open it.
func TestEffectiveAccess(t *testing.T) {
	for _, tc := range []struct{ repo, stack, want PreviewAccess }{
		{"", "", AccessPrivate},
		{"", AccessPublic, AccessPrivate},
		{AccessPrivate, AccessPublic, AccessPrivate},
		{AccessPublic, "", AccessPublic},
		{AccessPublic, AccessPublic, AccessPublic},
		{AccessPublic, AccessPrivate, AccessPrivate},
	} {
		if got := EffectiveAccess(tc.repo, tc.stack); got != tc.want {
			t.Errorf("repo %q, stack %q: %q", tc.repo, tc.stack, got)
		}
	}
	if _, err := ParsePreviewAccess("Public"); ErrorCode(err) != EINVALID {
		t.Errorf("Public: %v", err)
	}
}

func TestNewSecretAndID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, id := NewSecret("tdm_"), NewID("t_")
		if !strings.HasPrefix(s, "tdm_") || len(s) != 4+43 || !strings.HasPrefix(id, "t_") || len(id) != 2+16 || id != strings.ToLower(id) {
			t.Fatalf("%q %q", s, id)
		}
		if seen[s] || seen[id] {
			t.Fatal("a repeat")
		}
		seen[s], seen[id] = true, true
	}
	if len(HashSecret("x")) != 32 {
		t.Error("not a SHA-256")
	}
}

func TestForbiddenIs403(t *testing.T) {
	if HTTPStatus(EFORBIDDEN) != 403 {
		t.Error(HTTPStatus(EFORBIDDEN))
	}
}
