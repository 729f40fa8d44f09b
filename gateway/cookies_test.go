package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/tandem-dev/tandem"
)

// Sessions, CSRF and bearer tokens are the application's: the gateway
// passes them untouched, several Set-Cookie lines included, in order, with
// their Path and Domain as the service wrote them (a stripped prefix too).
func TestCookiesAndAuthorization(t *testing.T) {
	setCookies := []string{
		"sessionid=abc123; HttpOnly; Path=/; SameSite=Lax",
		"csrftoken=Zx9; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
		"next-auth.session-token=eyJhbGciOi.J9; Domain=example.com; Path=/api/; Secure; HttpOnly",
	}
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, c := range setCookies {
			w.Header().Add("Set-Cookie", c)
		}
		_ = json.NewEncoder(w).Encode(map[string][]string{
			"cookie":        r.Header.Values("Cookie"),
			"authorization": r.Header.Values("Authorization"),
		})
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute, webRoute}, map[string]http.Handler{"api:8000": svc, "web:3000": svc})

		for _, path := range []string{"/api/me/", "/account"} {
			res, body := h.get(path,
				"Cookie", `sessionid=abc123; csrftoken=Zx9; theme="dark mode"`,
				"Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig")
			if got := res.Header.Values("Set-Cookie"); !slices.Equal(got, setCookies) {
				t.Errorf("%s: Set-Cookie\n got %q\nwant %q", path, got, setCookies)
			}
			var seen map[string][]string
			if err := json.Unmarshal([]byte(body), &seen); err != nil {
				t.Fatal(err)
			}
			if got := seen["cookie"]; !slices.Equal(got, []string{`sessionid=abc123; csrftoken=Zx9; theme="dark mode"`}) {
				t.Errorf("%s: service received Cookie %q", path, got)
			}
			if got := seen["authorization"]; !slices.Equal(got, []string{"Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"}) {
				t.Errorf("%s: service received Authorization %q", path, got)
			}
		}
	})
}
