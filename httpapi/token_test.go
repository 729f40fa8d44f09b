package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestEnsureToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), TokenFile)
	token, err := EnsureToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 64 {
		t.Errorf("token %q: want 32 bytes in hex", token)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi.Mode(), err)
	}
	// The same token on every start; a file left readable is made private.
	os.Chmod(path, 0o644)
	again, err := EnsureToken(path)
	if err != nil || again != token {
		t.Errorf("second start: %q %v, want %q", again, err, token)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after the second start: %o", fi.Mode().Perm())
	}
	other, _ := EnsureToken(filepath.Join(t.TempDir(), TokenFile))
	if other == token {
		t.Error("two data directories got one token")
	}
}

func TestRequireToken(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	srv := httptest.NewServer(RequireToken(token, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []View{})
	})))
	defer srv.Close()
	for name, auth := range map[string]string{
		"none":         "",
		"wrong":        "Bearer " + token[:63] + "0",
		"prefix":       "Bearer " + token[:32],
		"longer":       "Bearer " + token + "0",
		"other scheme": "Basic " + token,
		"bare token":   token,
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/previews", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body errorBody
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 401 || body.Code != tandem.EUNAUTHORIZED || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d %+v", name, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/previews", nil)
	req.Header.Set("Authorization", "bearer "+token) // the scheme is case-insensitive (RFC 9110 §11.1)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with the token: %d %s", resp.StatusCode, b)
	}

	// The client sends it.
	c, _ := NewServerClient(srv.URL)
	if _, err := c.Previews(t.Context()); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Errorf("client without the token: %v", err)
	}
	c.Token = token
	if _, err := c.Previews(t.Context()); err != nil {
		t.Errorf("client with the token: %v", err)
	}
}
