// Package mail sends tandem's email — sign-in codes, share links — over
// SMTP, with github.com/wneessen/go-mail.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tandem-dev/tandem"
)

// Config is where and how mail is sent.
type Config struct {
	Host string
	Port int // default 587, or 465 with TLS "tls"
	// TLS: "starttls" (the default: STARTTLS, required), "tls" (TLS from
	// the first byte, as on port 465), or "none" (plain text: a relay on
	// this machine only).
	TLS      string
	Username string
	Password string // never logged, never in an error
	From     string // "tandem <previews@example.com>"
	Timeout  time.Duration
}

// Sender sends mail as Config says.
type Sender struct {
	cfg  Config
	from *mail.Address
}

// New checks cfg and returns its Sender.
func New(cfg Config) (*Sender, error) {
	if cfg.Host == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "smtp: no host")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "smtp: from %q is not an address", cfg.From)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = "starttls"
	case "starttls", "tls", "none":
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "smtp: tls %q: want starttls, tls or none", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == "tls" {
			cfg.Port = 465
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Sender{cfg: cfg, from: from}, nil
}

// Send sends a plain-text message to one address.
func (s *Sender) Send(ctx context.Context, to, subject, text string) error {
	m := gomail.NewMsg()
	m.FromMailAddress(s.from)
	if err := m.To(to); err != nil {
		return tandem.Errorf(tandem.EINVALID, "mail to %q: not an address", to)
	}
	m.Subject(subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(gomail.TypeTextPlain, text)

	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		// Over TLS, the strongest mechanism the server offers; in plain
		// text PLAIN, which go-mail only sends to a relay on this machine.
		auth := gomail.SMTPAuthAutoDiscover
		if s.cfg.TLS == "none" {
			auth = gomail.SMTPAuthPlain
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return s.fail(to, err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return s.fail(to, err)
	}
	return nil
}

// fail wraps a sending error; the password, should a library ever quote
// it, is cut out.
func (s *Sender) fail(to string, err error) error {
	msg := err.Error()
	if s.cfg.Password != "" {
		msg = strings.ReplaceAll(msg, s.cfg.Password, "[secret]")
	}
	return tandem.Errorf(tandem.EUNAVAILABLE, "mail to %s through %s:%d: %w", to, s.cfg.Host, s.cfg.Port, errors.New(msg))
}

// String describes the sender without its password.
func (s *Sender) String() string {
	return fmt.Sprintf("smtp://%s:%d (%s) as %s", s.cfg.Host, s.cfg.Port, s.cfg.TLS, s.from.Address)
}
