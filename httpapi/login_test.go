package httpapi

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// The device flow over the API, with the person's approval given as the
// sign-in page gives it: through the store.
func TestDeviceLogin(t *testing.T) {
	a := newAPI(t)
	ctx := t.Context()
	alice := &tandem.Person{Email: "alice@corp.example", Groups: []string{"qa"}}
	a.store.PutPerson(ctx, alice)

	var start LoginStart
	if code, e := a.do("POST", "/v1/login/device", "", map[string]string{"client": "tandem CLI on ci-7\x1b[2J"}, &start); code != 200 {
		t.Fatalf("start: %d %+v", code, e)
	}
	if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(start.UserCode) ||
		start.VerificationURIComplete != a.srv.VerificationURL+"?code="+start.UserCode || start.Interval != 5 || start.ExpiresIn != 600 {
		t.Fatalf("start: %+v", start)
	}
	d, err := a.store.DeviceByUserCode(ctx, start.UserCode)
	if err != nil || d.Client != "tandem CLI on ci-7[2J" {
		t.Fatalf("the login as the sign-in page sees it: %+v %v", d, err)
	}
	poll := func() (int, LoginPoll, errorBody) {
		var p LoginPoll
		code, e := a.do("POST", "/v1/login/token", "", map[string]string{"device_code": start.DeviceCode}, &p)
		return code, p, e
	}
	if code, p, _ := poll(); code != 202 || p.Status != "pending" || p.Secret != "" {
		t.Fatalf("pending: %d %+v", code, p)
	}
	if err := a.store.ApproveDevice(ctx, start.UserCode, alice.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	code, p, _ := poll()
	if code != 200 || p.Status != "approved" || !strings.HasPrefix(p.Secret, TokenPrefix) || p.Person.Email != alice.Email || p.Token.PersonID != alice.ID {
		t.Fatalf("approved: %d %+v", code, p)
	}
	if code, _, e := poll(); code != 404 || e.Code != tandem.ENOTFOUND {
		t.Errorf("a second poll after the approval: %d", code)
	}

	// The token acts as alice, with her roles as they are when it is used.
	var who tandem.Principal
	if code, _ := a.do("GET", "/v1/whoami", p.Secret, nil, &who); code != 200 || who.Kind != tandem.PrincipalPerson || who.Person.Email != alice.Email || len(who.Roles) != 0 {
		t.Fatalf("whoami: %d %+v", code, who)
	}
	var list []View
	if a.do("GET", "/v1/previews", p.Secret, nil, &list); len(list) != 0 {
		t.Errorf("no grant yet, but sees %v", list)
	}
	a.store.AddGrant(ctx, tandem.Grant{Repo: "blog", Role: "viewer", Group: "qa"})
	if a.do("GET", "/v1/previews", p.Secret, nil, &list); len(list) != 1 || list[0].Name != "pr-2" {
		t.Errorf("with blog's grant: %v", list)
	}
	// She may revoke her own token, and then it is refused.
	if code, _ := a.do("DELETE", "/v1/tokens/"+p.Token.ID, p.Secret, nil, nil); code != 200 {
		t.Errorf("revoke her own: %d", code)
	}
	if code, _ := a.do("GET", "/v1/whoami", p.Secret, nil, nil); code != 401 {
		t.Errorf("after revoking: %d", code)
	}
	events, _ := a.store.AccessEvents(ctx, 0, 0)
	if events[0].Kind != "token.created" || events[0].Actor != alice.Email || !strings.Contains(events[0].Detail, start.UserCode) {
		t.Errorf("event: %+v", events[0])
	}
}

func TestDeviceLoginDeniedAndUnknown(t *testing.T) {
	a := newAPI(t)
	var start LoginStart
	a.do("POST", "/v1/login/device", "", map[string]string{}, &start)
	if err := a.store.DenyDevice(t.Context(), start.UserCode, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, e := a.do("POST", "/v1/login/token", "", map[string]string{"device_code": start.DeviceCode}, nil); code != 403 || !strings.Contains(e.Error, "denied") {
		t.Errorf("denied: %d %+v", code, e)
	}
	if code, _ := a.do("POST", "/v1/login/token", "", map[string]string{"device_code": "tdmd_guess"}, nil); code != 404 {
		t.Errorf("a guessed device code: %d", code)
	}
	// Without a sign-in host, there is nothing to approve a login on.
	a.srv.VerificationURL = ""
	srv := httptest.NewServer(a.srv.TCPHandler())
	defer srv.Close()
	if code, e := a.send(srv.URL, "POST", "/v1/login/device", "", map[string]string{}, nil); code != 501 || !strings.Contains(e.Error, "tandem token create") {
		t.Errorf("no sign-in host: %d %+v", code, e)
	}
}
