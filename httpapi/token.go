package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandem-dev/tandem"
)

// TokenFile is where tandem serve keeps its API token, in its data
// directory: until callers have identities of their own, whoever holds it
// may do anything the API can.
const TokenFile = "api-token"

// EnsureToken returns the token kept in path, making one (32 random bytes,
// hex) in a file only its owner may read if there is none yet. A file an
// older tandem left readable by others is made private.
func EnsureToken(path string) (string, error) {
	if token, err := ReadToken(path); err == nil {
		return token, os.Chmod(path, 0o600)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 32)
	rand.Read(b)
	token := hex.EncodeToString(b)
	// Written whole beside it, then renamed: a crash leaves no empty token.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".api-token-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return token, os.Rename(tmp.Name(), path) // CreateTemp made it 0600
}

// ReadToken reads a token file.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("%s is empty: %w", path, fs.ErrNotExist)
	}
	return token, nil
}

// RequireToken lets through only the requests that carry "Authorization:
// Bearer TOKEN"; the others get 401 and the API's error envelope. The
// comparison takes the same time whatever the guess, so a caller cannot find
// the token a byte at a time.
func RequireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, given, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(given)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
			writeError(w, tandem.Errorf(tandem.EUNAUTHORIZED,
				"this API needs its token: send \"Authorization: Bearer TOKEN\" with the token tandem serve keeps in DATA/%s", TokenFile))
			return
		}
		next.ServeHTTP(w, r)
	})
}
