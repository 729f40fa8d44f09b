package mail

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem/internal/testmail"
)

func TestSend(t *testing.T) {
	srv := testmail.Start(t)
	for _, user := range []string{"", "tandem"} {
		s, err := New(Config{Host: srv.Host, Port: srv.Port, TLS: "none", Username: user, Password: "hunter2-smtp", From: "tandem <previews@example.com>"})
		if err != nil {
			t.Fatal(err)
		}
		to := "alice+" + user + "@client.example"
		if err := s.Send(context.Background(), to, "Your code", "Your code is 123456.\n"); err != nil {
			t.Fatalf("user %q: %v", user, err)
		}
		m := srv.Wait(t, to, 0)
		if m.Subject != "Your code" || m.From != "previews@example.com" || m.Code(t) != "123456" {
			t.Errorf("received %+v", m)
		}
		if strings.Contains(s.String(), "hunter2") {
			t.Errorf("String shows the password: %s", s)
		}
	}
}

func TestSendFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s, err := New(Config{Host: "127.0.0.1", Port: port, TLS: "none", Username: "u", Password: "hunter2-smtp", From: "previews@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), "alice@client.example", "x", "y")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "alice@client.example") {
		t.Errorf("error %v", err)
	}
	for _, bad := range []Config{{From: "x@y"}, {Host: "h", From: "not an address"}, {Host: "h", From: "a@b", TLS: "ssl3"}} {
		if _, err := New(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
