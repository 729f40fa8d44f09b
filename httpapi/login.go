package httpapi

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/tandem-dev/tandem"
)

// `tandem login` is the OAuth 2.0 device authorization grant (RFC 8628) in
// tandem's own JSON: the CLI starts a login, shows the person a URL and a
// code, and polls; the person approves on the auth host (package access,
// through tandem.AccessStore.ApproveDevice); the next poll gets a token of
// the person's own.
const (
	loginTTL      = 10 * time.Minute
	loginInterval = 5 * time.Second
	// userCodeAlphabet has no vowels, so no word is spelt, and no letters
	// people confuse (RFC 8628 §6.1): 20^8 codes.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
)

// LoginStart is the answer to POST /v1/login/device.
type LoginStart struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`  // seconds
	Interval                int    `json:"interval"`    // seconds between polls (RFC 8628)
	IntervalMS              int    `json:"interval_ms"` // the same, to the millisecond
}

// LoginPoll is the answer to POST /v1/login/token: "pending" until the
// person answers, then "approved" with a token, once. A denied login is
// 403; an unknown or expired one 404.
type LoginPoll struct {
	Status string         `json:"status"` // "pending" or "approved"
	Token  *tandem.Token  `json:"token,omitempty"`
	Secret string         `json:"secret,omitempty"`
	Person *tandem.Person `json:"person,omitempty"`
}

// LoginTokenTTL is how long a token `tandem login` makes lives.
const LoginTokenTTL = 90 * 24 * time.Hour

func (s *Server) startLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Client string `json:"client"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if s.VerificationURL == "" {
		writeError(w, tandem.Errorf(tandem.EUNSUPPORTED, "this server has no sign-in host: log in with a token (tandem token create) instead"))
		return
	}
	now := s.now()
	d := &tandem.DeviceAuth{Client: cleanClient(body.Client), CreatedAt: now.UTC(), ExpiresAt: now.Add(loginTTL).UTC()}
	deviceCode := tandem.NewSecret("tdmd_")
	var err error
	for range 5 { // a user code a live login has: draw another
		d.UserCode = newUserCode()
		if err = s.Access.PutDevice(r.Context(), d, tandem.HashSecret(deviceCode)); tandem.ErrorCode(err) != tandem.ECONFLICT {
			break
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	interval := s.LoginInterval
	if interval <= 0 {
		interval = loginInterval
	}
	writeJSON(w, http.StatusOK, LoginStart{
		DeviceCode: deviceCode, UserCode: d.UserCode,
		VerificationURI:         s.VerificationURL,
		VerificationURIComplete: s.VerificationURL + "?code=" + url.QueryEscape(d.UserCode),
		ExpiresIn:               int(loginTTL / time.Second), Interval: int(interval / time.Second), IntervalMS: int(interval / time.Millisecond),
	})
}

func (s *Server) finishLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		DeviceCode string `json:"device_code"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	now := s.now()
	d, err := s.Access.TakeDevice(r.Context(), tandem.HashSecret(body.DeviceCode), now)
	switch {
	case err != nil:
		writeError(w, err)
		return
	case !d.DeniedAt.IsZero():
		writeError(w, tandem.Errorf(tandem.EFORBIDDEN, "the login was denied on the sign-in page"))
		return
	case d.PersonID == "":
		writeJSON(w, http.StatusAccepted, LoginPoll{Status: "pending"})
		return
	}
	person, err := s.Access.Person(r.Context(), d.PersonID)
	if err != nil {
		writeError(w, err)
		return
	}
	t := &tandem.Token{ID: tandem.NewID("t_"), Name: "login: " + d.Client, PersonID: person.ID, CreatedBy: person.Email,
		CreatedAt: now.UTC(), ExpiresAt: now.Add(LoginTokenTTL).UTC()}
	secret := tandem.NewSecret(TokenPrefix)
	if err := s.Access.PutToken(r.Context(), t, tandem.HashSecret(secret)); err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.Access.AddAccessEvent(r.Context(), tandem.AccessEvent{Kind: "token.created", Actor: person.Email,
		Subject: t.ID, Detail: "tandem login (" + d.UserCode + "): " + t.Name}); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, LoginPoll{Status: "approved", Token: t, Secret: secret, Person: person})
}

// newUserCode draws eight letters, shown "BCDF-GHJK".
func newUserCode() string {
	b := make([]byte, 8)
	for i := range b {
		b[i] = userCodeAlphabet[randIndex(len(userCodeAlphabet))]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// randIndex is a uniform random number in [0, n), n < 256.
func randIndex(n int) int {
	limit := 256 - 256%n // reject what would bias the small numbers
	for {
		var b [1]byte
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// cleanClient keeps what a client says it is to a printable line of at
// most 80 characters: it is shown on the sign-in page and in lists.
func cleanClient(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80])
	}
	if s == "" {
		s = "an API client"
	}
	return s
}
