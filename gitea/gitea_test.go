package gitea

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
)

// Payloads as Gitea 1.26 sent them to tandem (kept from a real run): its
// issue.repository.owner is a name where GitHub's is an object, and its
// actions are "synchronized" and "label_updated".
func TestWebhookGitea(t *testing.T) {
	secret := []byte("gitea-secret")
	c, err := New(Config{URL: "https://git.example.com", Token: "t", WebhookSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	sig := func(body []byte) string {
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	comment := read("issue_comment.pull_request.json")
	for name, h := range map[string]http.Header{
		"X-Gitea-Signature":   {"X-Gitea-Signature": {sig(comment)}},
		"X-Hub-Signature-256": {"X-Hub-Signature-256": {"sha256=" + sig(comment)}},
	} {
		if err := c.Verify(h, comment); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, h := range map[string]http.Header{
		"none":  {},
		"wrong": {"X-Gitea-Signature": {sig([]byte("other"))}},
		// X-Gitea-Signature, when present, is the one checked.
		"wrong gitea, right hub": {"X-Gitea-Signature": {sig([]byte("other"))}, "X-Hub-Signature-256": {"sha256=" + sig(comment)}},
	} {
		if err := c.Verify(h, comment); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
			t.Errorf("%s signature: %v", name, err)
		}
	}

	ev, err := c.Parse(http.Header{"X-Gitea-Event": {"issue_comment"}, "X-Gitea-Delivery": {"c-1"}}, comment)
	if err != nil || ev.Action != forge.Commented || !ev.IsPR || ev.Number != 2 || ev.Sender != "tandem-admin" ||
		ev.Project != "tandem-admin/shop" || ev.Delivery != "c-1" || ev.Body != "Looks fine.\n/tandem allow" {
		t.Errorf("comment: %+v %v", ev, err)
	}
	ev, err = c.Parse(http.Header{"X-Gitea-Event": {"pull_request"}, "X-Gitea-Delivery": {"p-1"}}, read("pull_request.opened.fork.json"))
	if err != nil || ev.Action != forge.Opened || !ev.Fork || ev.Number != 2 || ev.Head != "c694e81c8292ac02f544bb20d23da2f84d9efc83" || ev.Sender != "bob" {
		t.Errorf("a fork's pull request: %+v %v", ev, err)
	}
	ev, err = c.Parse(http.Header{"X-Gitea-Event": {"pull_request"}, "X-Gitea-Delivery": {"p-2"}}, read("pull_request.synchronized.json"))
	if err != nil || ev.Action != forge.Pushed || ev.Fork || ev.Number != 1 || ev.Head != "bc8379cbbbd9d28de4ce406aa0912c84b52be0bd" {
		t.Errorf("synchronized: %+v %v", ev, err)
	}
	if h, _ := c.GitAuthorization(context.Background()); h != "Basic dGFuZGVtOnQ=" { // tandem:t
		t.Errorf("git's header: %q", h)
	}
}
