package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// TokenFile is where tandem serve keeps its bootstrap API token, in its
// data directory: whoever holds it is an admin of every repository.
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

// BootstrapName is the name of the token of DATA/api-token.
const BootstrapName = "bootstrap"

// Bootstrap makes the secret of DATA/api-token a token of the store: admin
// of every repository, named "bootstrap", made by "tandem" — how the first
// admin, or the server's own CI, gets in. A secret already there is left as
// it is, revoked or not. A new one (the file was removed, and made again at
// this start) revokes the bootstrap tokens of earlier files.
func Bootstrap(ctx context.Context, store tandem.AccessStore, secret string, now time.Time) (*tandem.Token, error) {
	hash := tandem.HashSecret(secret)
	if t, err := store.TokenByHash(ctx, hash); err == nil || tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return t, err
	}
	all, err := store.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	for _, old := range all {
		if old.Name == BootstrapName && old.CreatedBy == "tandem" && old.RevokedAt.IsZero() {
			if err := store.RevokeToken(ctx, old.ID, now); err != nil {
				return nil, err
			}
			if _, err := store.AddAccessEvent(ctx, tandem.AccessEvent{Kind: "token.revoked", Actor: "tandem", Repo: old.Repo,
				Subject: old.ID, Detail: "a new DATA/" + TokenFile + " replaces it"}); err != nil {
				return nil, err
			}
		}
	}
	t := &tandem.Token{ID: tandem.NewID("t_"), Name: BootstrapName, Role: tandem.RoleAdmin, Repo: tandem.AllRepos,
		CreatedBy: "tandem", CreatedAt: now.UTC()}
	if err := store.PutToken(ctx, t, hash); err != nil {
		return nil, err
	}
	_, err = store.AddAccessEvent(ctx, tandem.AccessEvent{Kind: "token.created", Actor: "tandem", Repo: t.Repo,
		Subject: t.ID, Detail: "bootstrap: admin in *, from DATA/" + TokenFile})
	return t, err
}
