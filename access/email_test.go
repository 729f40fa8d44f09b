package access

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tandem-dev/tandem"
)

// A code mailed to an address with a grant signs its owner in; the code
// is six digits, works once, and dies after MaxTries wrong tries.
func TestEmailCode(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	p := b.signInEmail(w.url("pr-7", "/hello"), "carol@corp.example")
	if decodeApp(t, p)["path"] != "/hello" {
		t.Fatalf("ended at %s", p.url)
	}
	msg := w.mail.Messages(t, "carol@corp.example")[0]
	if !regexp.MustCompile(`\b\d{6}\b`).MatchString(msg.Text) || !strings.Contains(msg.Text, "10 minutes") {
		t.Errorf("mail %q", msg.Text)
	}
	ev := w.events("person.signed_in")
	if len(ev) != 1 || ev[0].Actor != "carol@corp.example" || !strings.Contains(ev[0].Detail, "code sent by email") {
		t.Errorf("events %+v", ev)
	}

	// Wrong codes: MaxTries (3) and the code is gone, right one or not.
	b = w.browser()
	p = b.get(w.url("auth", "/signin"))
	p = b.submit(p, "/signin/email", "email", "dave@corp.example")
	code := w.mail.Wait(t, "dave@corp.example", 0).Code(t)
	wrong := map[bool]string{true: "000000", false: "111111"}[code != "000000"]
	for i := 0; i < 3; i++ {
		if q := b.submit(p, "/signin/code", "code", wrong); q.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d", i, q.status)
		}
	}
	if q := b.submit(p, "/signin/code", "code", code); q.status != http.StatusUnauthorized {
		t.Errorf("the right code after 3 wrong ones: %d", q.status)
	}

	// An address no grant names gets no mail, and the page says the same.
	p = b.get(w.url("auth", "/signin"))
	p = b.submit(p, "/signin/email", "email", "mallory@evil.example")
	if p.status != http.StatusOK || !strings.Contains(p.body, "If mallory@evil.example may sign in here") {
		t.Errorf("unknown address: %d", p.status)
	}
	if n := len(w.mail.Messages(t, "mallory@evil.example")); n != 0 {
		t.Errorf("%d mails to an address without a grant", n)
	}

	// Asking for codes for one address is limited.
	for i := 0; ; i++ {
		p = b.get(w.url("auth", "/signin"))
		if q := b.submit(p, "/signin/email", "email", "erin@corp.example"); q.status == http.StatusTooManyRequests {
			if i != sendsPerAddress {
				t.Errorf("limited after %d codes", i)
			}
			break
		}
		if i > sendsPerAddress {
			t.Fatal("codes for one address are not limited")
		}
	}
}

// An authenticator app: enrolled by someone signed in, then a way to sign
// in, once per code.
func TestTOTP(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	b.signInEmail(w.url("pr-7", "/"), "carol@corp.example")
	p := b.get(w.url("auth", "/totp"))
	secret := regexp.MustCompile(`id=secret>([A-Z2-7]+)<`).FindStringSubmatch(p.body)
	if secret == nil || !strings.Contains(p.body, "data:image/png;base64,") || !strings.Contains(p.body, "otpauth://totp/") {
		t.Fatalf("enrollment page: %.600s", p.body)
	}
	if q := b.submit(p, "/totp", "code", "123456"); q.status != http.StatusUnauthorized {
		t.Errorf("a wrong code enrolled: %d", q.status)
	}
	p = b.get(w.url("auth", "/totp"))
	secret = regexp.MustCompile(`id=secret>([A-Z2-7]+)<`).FindStringSubmatch(p.body)
	code, _ := totp.GenerateCode(secret[1], time.Now())
	if q := b.submit(p, "/totp", "code", code); q.status != http.StatusOK || !strings.Contains(q.body, "enrolled") {
		t.Fatalf("enroll: %d %.300s", q.status, q.body)
	}
	person := mustPerson(t, w, "carol@corp.example")
	stored, err := w.store.TOTPSecret(context.Background(), person.ID)
	if !person.TOTP || err != nil || stored != secret[1] {
		t.Errorf("person %+v, secret %v", person, err)
	}

	// A new browser signs in with the app's code; the code does not work
	// twice (someone who saw it over a shoulder).
	code, _ = totp.GenerateCode(secret[1], time.Now().Add(30*time.Second))
	other := w.browser()
	p = other.get(w.url("pr-8", "/"))
	p = other.submit(p, "/signin/totp", "email", "carol@corp.example", "code", code)
	if decodeApp(t, p)["path"] != "/" || !strings.Contains(p.url, "pr-8") {
		t.Fatalf("TOTP sign-in ended at %s", p.url)
	}
	third := w.browser()
	p = third.get(w.url("pr-8", "/"))
	if q := third.submit(p, "/signin/totp", "email", "carol@corp.example", "code", code); q.status != http.StatusUnauthorized {
		t.Errorf("a code used twice: %d", q.status)
	}
	if q := third.submit(p, "/signin/totp", "email", "dave@corp.example", "code", code); q.status != http.StatusUnauthorized {
		t.Errorf("someone without an app: %d", q.status)
	}
	if len(w.events("totp.enrolled")) != 1 {
		t.Errorf("events %+v", w.events("totp.enrolled"))
	}
}

// Signing out ends the session on the sign-in host and on the preview.
func TestSignOut(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	b.signInOIDC(w.url("pr-7", "/"), "alice@corp.example")
	p := b.do(http.MethodPost, w.url("pr-7", "/__tandem/signout"), nil)
	p = b.submit(p, "/signout")
	if !strings.Contains(p.body, "You are signed out") {
		t.Fatalf("%d %.300s", p.status, p.body)
	}
	b.follow = false
	for _, host := range []string{"pr-7", "pr-8"} {
		if p := b.get(w.url(host, "/")); p.status != http.StatusFound {
			t.Errorf("%s after sign-out: %d", host, p.status)
		}
	}
	if p := b.get(w.url("auth", "/signin?rd="+w.url("pr-7", "/"))); p.status != http.StatusOK {
		t.Errorf("the sign-in page continued as before: %d %s", p.status, p.header.Get("Location"))
	}
	if len(w.events("person.signed_out")) != 1 {
		t.Error("no sign-out event")
	}
}

// `tandem login` is approved on the sign-in host by a signed-in person.
func TestDeviceApproval(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	d := &tandem.DeviceAuth{UserCode: "BCDF-GHJK", Client: "tandem CLI on build-7", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(10 * time.Minute)}
	if err := w.store.PutDevice(ctx, d, tandem.HashSecret("tdmd_device")); err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	p := b.signInOIDC(w.url("auth", tandem.DeviceVerificationPath+"?code=BCDF-GHJK"), "alice@corp.example")
	if !strings.Contains(p.body, "tandem CLI on build-7") || !strings.Contains(p.body, "BCDF-GHJK") {
		t.Fatalf("device page at %s: %.500s", p.url, p.body)
	}
	p = b.submit(p, tandem.DeviceVerificationPath, "answer", "approve")
	if p.status != http.StatusOK || !strings.Contains(p.body, "approved") {
		t.Fatalf("%d %.300s", p.status, p.body)
	}
	got, err := w.store.TakeDevice(ctx, tandem.HashSecret("tdmd_device"), time.Now())
	if err != nil || got.PersonID != mustPerson(t, w, "alice@corp.example").ID {
		t.Errorf("%+v %v", got, err)
	}
	if ev := w.events("login.approved"); len(ev) != 1 || ev[0].Actor != "alice@corp.example" {
		t.Errorf("events %+v", ev)
	}
}
