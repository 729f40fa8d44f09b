// Package testmail runs mailpit, a real SMTP server, for tests: built from
// the module's own requirement, started on loopback ports, and read
// through its HTTP API.
package testmail

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running mailpit. It accepts any SMTP credentials, or none,
// in plain text: only for loopback.
type Server struct {
	Host string // 127.0.0.1
	Port int    // SMTP
	API  string // http://127.0.0.1:PORT
}

// Message is a mail the server received.
type Message struct {
	ID      string
	Subject string
	To      []string
	From    string
	Text    string
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles mailpit once per test process, from the version go.mod
// requires (its sources are in the module cache), into one place per user
// that every run replaces: Go's build cache makes it a link step.
func build() (string, error) {
	buildOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("tandem-testmail-%d", os.Getuid()))
		if buildErr = os.MkdirAll(dir, 0o700); buildErr != nil {
			return
		}
		binary = filepath.Join(dir, "mailpit")
		tmp := fmt.Sprintf("%s.%d", binary, os.Getpid())
		out, err := exec.Command("go", "build", "-o", tmp, "github.com/axllent/mailpit").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building mailpit: %v\n%s", err, out)
			return
		}
		buildErr = os.Rename(tmp, binary) // a running one keeps its own file
	})
	return binary, buildErr
}

// Start runs a mailpit until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	// The ports are free when picked, and may be taken before mailpit
	// binds them (tests of other packages pick too): then pick again.
	for try := 1; ; try++ {
		s, out, err := startOn(t, bin)
		if err == nil {
			return s
		}
		if try == 5 || !strings.Contains(out, "address already in use") {
			t.Fatalf("mailpit: %v\n%s", err, out)
		}
	}
}

// startOn starts mailpit on two fresh ports and waits until it answers.
func startOn(t testing.TB, bin string) (*Server, string, error) {
	smtp, api := freePort(t), freePort(t)
	cmd := exec.Command(bin,
		"--smtp", fmt.Sprintf("127.0.0.1:%d", smtp), "--listen", fmt.Sprintf("127.0.0.1:%d", api),
		"--database", filepath.Join(t.TempDir(), "mail.db"), "--disable-version-check", "--quiet",
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--smtp-disable-rdns")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	s := &Server{Host: "127.0.0.1", Port: smtp, API: fmt.Sprintf("http://127.0.0.1:%d", api)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(s.API + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK && smtpAnswers(s.Addr()) {
				return s, "", nil
			}
		}
		select {
		case <-done:
			return nil, out.String(), fmt.Errorf("mailpit exited")
		default:
		}
		if time.Now().After(deadline) {
			return nil, out.String(), fmt.Errorf("mailpit did not start in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// smtpAnswers reports whether an SMTP server greets on addr.
func smtpAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 3)
	_, err = io.ReadFull(c, b)
	return err == nil && string(b) == "220"
}

// syncBuffer is mailpit's output, written by its pipes' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Addr is the SMTP server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) }

// Messages returns the mail received for the address to, newest first.
func (s *Server) Messages(t testing.TB, to string) []Message {
	t.Helper()
	var list struct {
		Messages []struct {
			ID      string
			Subject string
			From    struct{ Address string }
			To      []struct{ Address string }
		}
	}
	s.get(t, "/api/v1/search?query="+url.QueryEscape(`to:"`+to+`"`), &list)
	var msgs []Message
	for _, m := range list.Messages {
		msg := Message{ID: m.ID, Subject: m.Subject, From: m.From.Address}
		for _, a := range m.To {
			msg.To = append(msg.To, a.Address)
		}
		var full struct{ Text string }
		s.get(t, "/api/v1/message/"+m.ID, &full)
		msg.Text = full.Text
		msgs = append(msgs, msg)
	}
	return msgs
}

// Wait waits until the address to has received more than n messages and
// returns the newest.
func (s *Server) Wait(t testing.TB, to string, n int) Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if msgs := s.Messages(t, to); len(msgs) > n {
			return msgs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail number %d for %s within 30s", n+1, to)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// Code returns the first six-digit code in m's text.
func (m Message) Code(t testing.TB) string {
	t.Helper()
	c := sixDigits.FindString(m.Text)
	if c == "" {
		t.Fatalf("no code in the mail %q: %q", m.Subject, m.Text)
	}
	return c
}

func (s *Server) get(t testing.TB, path string, v any) {
	t.Helper()
	res, err := http.Get(s.API + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mailpit %s: %s", path, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("mailpit %s: %v", path, err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
