package access

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tandem-dev/tandem"
)

// A capture session lets tandem's own browser in as the person, for a few
// minutes, and ends when the capture does.
func TestReviewerSession(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	person := &tandem.Person{ID: "p_qa", Email: "qa@corp.example", Name: "Quinn Analyst", CreatedAt: time.Now()}
	if err := w.store.PutPerson(ctx, person); err != nil {
		t.Fatal(err)
	}
	cookie, end, err := w.srv.ReviewerSession(ctx, person, "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	if cookie.Name != "tandem_session" || !cookie.HttpOnly || time.Until(cookie.Expires) > 6*time.Minute {
		t.Errorf("cookie %+v", cookie)
	}
	b := w.browser()
	b.jar.SetCookies(mustURL(t, w.url("pr-7", "/")), []*http.Cookie{{Name: cookie.Name, Value: cookie.Value}})
	p := b.get(w.url("pr-7", "/page"), "Accept", "application/json")
	if p.status != http.StatusOK || decodeApp(t, p)["path"] != "/page" {
		t.Fatalf("the capture session was not let in: %d %s", p.status, p.body)
	}
	if who := b.get(w.url("pr-7", "/__tandem/whoami")); !strings.Contains(who.body, `"method":"capture"`) {
		t.Errorf("whoami: %s", who.body)
	}
	eventually(t, "the request attributed to the reviewer", func() bool {
		return strings.Contains(w.logs.String(), `"principal":"qa@corp.example"`)
	})
	// Not on another preview's host.
	other := w.browser()
	other.jar.SetCookies(mustURL(t, w.url("pr-8", "/")), []*http.Cookie{{Name: cookie.Name, Value: cookie.Value}})
	if p := other.get(w.url("pr-8", "/"), "Accept", "application/json"); p.status != http.StatusUnauthorized {
		t.Errorf("the capture session opened another preview: %d", p.status)
	}
	end()
	if p := b.get(w.url("pr-7", "/page"), "Accept", "application/json"); p.status != http.StatusUnauthorized {
		t.Errorf("after the capture: %d", p.status)
	}
	if ev := w.events("session.capture"); len(ev) != 1 || ev[0].Actor != "qa@corp.example" || ev[0].Preview != "pr-7" {
		t.Errorf("events %+v", ev)
	}
}

// Signing codes: an authenticator app's, once per time step, or one mailed
// for the purpose, once; a sign-in code is not one.
func TestReauthenticate(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	app := &tandem.Person{ID: "p_app", Email: "app@corp.example", Name: "App User", TOTP: true, CreatedAt: time.Now()}
	mailer := &tandem.Person{ID: "p_mail", Email: "mail@corp.example", Name: "Mail User", CreatedAt: time.Now()}
	for _, p := range []*tandem.Person{app, mailer} {
		if err := w.store.PutPerson(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.store.PutTOTPSecret(ctx, app.ID, secret); err != nil {
		t.Fatal(err)
	}

	code, _ := totp.GenerateCode(secret, time.Now())
	how, at, err := w.srv.Reauthenticate(ctx, app, code)
	if err != nil || how != "totp" || time.Since(at) > time.Minute {
		t.Fatalf("TOTP: %q %v %v", how, at, err)
	}
	if _, _, err := w.srv.Reauthenticate(ctx, app, code); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Errorf("the same TOTP code again: %v", err)
	}

	// A sign-in code mailed to the address does not sign.
	b := w.browser()
	p := b.get(w.url("auth", "/signin"))
	b.submit(p, "/signin/email", "email", mailer.Email)
	signin := w.mail.Wait(t, mailer.Email, 0).Code(t)
	if _, _, err := w.srv.Reauthenticate(ctx, mailer, signin); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Errorf("a sign-in code signed: %v", err)
	}
	if err := w.srv.SendReauthCode(ctx, mailer, "stage qa of pr-7 at c0ffee"); err != nil {
		t.Fatal(err)
	}
	m := w.mail.Wait(t, mailer.Email, 1)
	if !strings.Contains(m.Text, "sign stage qa of pr-7 at c0ffee") || m.Subject != "Your tandem signing code" {
		t.Errorf("mail %q: %q", m.Subject, m.Text)
	}
	wrong := map[bool]string{true: "000000", false: "111111"}[m.Code(t) != "000000"]
	if _, _, err := w.srv.Reauthenticate(ctx, mailer, wrong); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Errorf("a wrong code: %v", err)
	}
	how, _, err = w.srv.Reauthenticate(ctx, mailer, m.Code(t))
	if err != nil || how != "email-code" {
		t.Errorf("the mailed code: %q %v", how, err)
	}
	if _, _, err := w.srv.Reauthenticate(ctx, mailer, m.Code(t)); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Errorf("the mailed code twice: %v", err)
	}
	if ev := w.events("person.reauthenticated"); len(ev) != 2 {
		t.Errorf("events %+v", ev)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
