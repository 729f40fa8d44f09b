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

var admin = &tandem.Principal{Kind: tandem.PrincipalPerson, Person: &tandem.Person{ID: "p_admin", Email: "admin@corp.example"}}

// openShare opens a share link in b with the code mailed for it.
func openShare(t *testing.T, w *world, b *browser, link string) page {
	t.Helper()
	p := b.get(link)
	n := len(w.mail.Messages(t, "client@client.example"))
	p = b.submit(p, "/share/send")
	code := w.mail.Wait(t, "client@client.example", n).Code(t)
	return b.submit(p, "/share/verify", "code", code)
}

// A share link lets one outside person, who shows they have the address,
// into one preview until it expires or is revoked; every use is recorded.
func TestShareLink(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	link, u, err := w.srv.CreateShare(ctx, admin, "pr-7", "Client@Client.example", 48*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if link.Email != "client@client.example" || link.Repo != "shop" || !strings.HasPrefix(u, w.url("auth", "/share?k=")) {
		t.Fatalf("%+v %s", link, u)
	}
	b := w.browser()
	// Opening the link sends nothing (a mail client's preview opens it too).
	p := b.get(u)
	if p.status != http.StatusOK || !strings.Contains(p.body, "cl***@client.example") || len(w.mail.Messages(t, "client@client.example")) != 0 {
		t.Fatalf("share page: %d %.400s", p.status, p.body)
	}
	p = openShare(t, w, b, u)
	if got := decodeApp(t, p); got["path"] != "/" || got["cookie"] != nil || !strings.Contains(p.url, "pr-7") {
		t.Fatalf("ended at %s: %v", p.url, got)
	}
	// That preview only.
	b.follow = false
	if p := b.get(w.url("pr-8", "/")); p.status != http.StatusFound {
		t.Errorf("pr-8 with a pr-7 share link: %d", p.status)
	}
	b.follow = true
	eventually(t, "the share's first visit", func() bool { return len(w.events("preview.visited")) == 1 })
	if ev := w.events("preview.visited")[0]; ev.Actor != "client@client.example (share link "+link.ID+")" || ev.Subject != link.ID {
		t.Errorf("visit %+v", ev)
	}

	// Revoked: the session it opened ends at once.
	if _, err := w.srv.RevokeShare(ctx, admin, "pr-7", link.ID); err != nil {
		t.Fatal(err)
	}
	b.follow = false
	if p := b.get(w.url("pr-7", "/")); p.status != http.StatusFound {
		t.Errorf("after the revoke: %d", p.status)
	}
	if p := w.browser().get(u); p.status != http.StatusGone || !strings.Contains(p.body, "revoked") {
		t.Errorf("a revoked link: %d", p.status)
	}
	for _, kind := range []string{"share.created", "share.code_sent", "share.used", "share.revoked"} {
		if ev := w.events(kind); len(ev) != 1 || ev[0].Subject != link.ID || ev[0].Preview != "pr-7" {
			t.Errorf("%s events: %+v", kind, ev)
		}
	}
	if ev := w.events("share.created")[0]; ev.Actor != "admin@corp.example" || !strings.Contains(ev.Detail, "client@client.example") {
		t.Errorf("created %+v", ev)
	}
	w.srv.visits.wg.Wait() // a visit's audit entry follows its event
	audit := strings.Join(w.audit.kinds(), "\n")
	for _, want := range []string{"access.granted pr-7 admin@corp.example", "access.revoked pr-7 admin@corp.example", "visit.first pr-7 client@client.example (share link " + link.ID + ")"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %q:\n%s", want, audit)
		}
	}
}

// A link expires, and its session with it.
func TestShareLinkExpires(t *testing.T) {
	w := newWorld(t, nil)
	_, u, err := w.srv.CreateShare(context.Background(), admin, "pr-7", "client@client.example", time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	openShare(t, w, b, u)
	w.clock.advance(time.Hour + time.Minute)
	w.srv.sessions.forget(func(cached) bool { return true }) // as after principalCacheTTL
	b.follow = false
	if p := b.get(w.url("pr-7", "/")); p.status != http.StatusFound {
		t.Errorf("after expiry: %d", p.status)
	}
	if p := w.browser().get(u); p.status != http.StatusGone || !strings.Contains(p.body, "expired") {
		t.Errorf("an expired link: %d %.200s", p.status, p.body)
	}
}

// Guessing codes locks the link after MaxTries (3 here), and keeps it
// locked, right code or not.
func TestShareLinkLocks(t *testing.T) {
	w := newWorld(t, nil)
	link, u, err := w.srv.CreateShare(context.Background(), admin, "pr-7", "client@client.example", time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	p := b.submit(b.get(u), "/share/send")
	code := w.mail.Wait(t, "client@client.example", 0).Code(t)
	wrong := map[bool]string{true: "000000", false: "111111"}[code != "000000"]
	for i := 1; i <= 3; i++ {
		q := b.submit(p, "/share/verify", "code", wrong)
		if i < 3 && (q.status != http.StatusUnauthorized || !strings.Contains(q.body, "left before this link locks")) {
			t.Errorf("wrong code %d: %d %.300s", i, q.status, q.body)
		}
		if i == 3 && (q.status != http.StatusGone || !strings.Contains(q.body, "locked")) {
			t.Errorf("the last wrong code: %d %.300s", q.status, q.body)
		}
	}
	if q := b.submit(p, "/share/verify", "code", code); q.status != http.StatusGone {
		t.Errorf("the right code on a locked link: %d", q.status)
	}
	got, _ := w.store.Share(context.Background(), link.ID)
	if got.LockedAt.IsZero() || got.Failures != 3 || got.Uses != 0 {
		t.Errorf("link %+v", got)
	}
	if ev := w.events("share.failed"); len(ev) != 2 {
		t.Errorf("failed events %+v", ev)
	}
	if ev := w.events("share.locked"); len(ev) != 1 || !strings.Contains(ev[0].Detail, "3 wrong codes") {
		t.Errorf("locked events %+v", ev)
	}
}

// Someone with an authenticator app opens a link with its code.
func TestShareLinkTOTP(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	secret := "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	person := &tandem.Person{ID: "p_client", Email: "client@client.example", Name: "Client", TOTP: true, CreatedAt: time.Now()}
	if err := w.store.PutPerson(ctx, person); err != nil {
		t.Fatal(err)
	}
	if err := w.store.PutTOTPSecret(ctx, person.ID, secret); err != nil {
		t.Fatal(err)
	}
	_, u, err := w.srv.CreateShare(ctx, admin, "pr-7", "client@client.example", time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	p := b.get(u)
	code, _ := totp.GenerateCode(secret, time.Now())
	p = b.submit(p, "/share/verify", "code", code)
	if decodeApp(t, p)["path"] != "/" {
		t.Fatalf("ended at %s", p.url)
	}
	if n := len(w.mail.Messages(t, "client@client.example")); n != 0 {
		t.Errorf("%d mails", n)
	}
}

// Share links are made for previews that exist, for an address, for a
// while.
func TestCreateShareChecks(t *testing.T) {
	w := newWorld(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		preview, email string
		ttl            time.Duration
	}{
		{"pr-404", "a@b.example", time.Hour}, {"pr-7", "not an address", time.Hour}, {"pr-7", "Bob <b@b.example>", time.Hour},
		{"pr-7", "a@b.example", 31 * 24 * time.Hour}, {"pr-7", "a@b.example", -time.Hour},
	} {
		if _, _, err := w.srv.CreateShare(ctx, admin, c.preview, c.email, c.ttl, false); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	_, u, err := w.srv.CreateShare(ctx, admin, "pr-7", "client@client.example", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if m := w.mail.Wait(t, "client@client.example", 0); !strings.Contains(m.Text, u) {
		t.Errorf("the mailed link: %q", m.Text)
	}
	list, err := w.srv.Shares(ctx, "pr-7")
	if err != nil || len(list) != 1 || !list[0].ExpiresAt.After(time.Now().Add(47*time.Hour)) {
		t.Errorf("%v %v", list, err)
	}
	if _, err := w.srv.RevokeShare(ctx, admin, "pr-8", list[0].ID); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("revoking through another preview: %v", err)
	}
	if _, err := url.Parse(u); err != nil {
		t.Error(err)
	}
}
