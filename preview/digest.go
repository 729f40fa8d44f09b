package preview

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/tandem-dev/tandem"
)

// stackDigest identifies the resolved stack an instance ran: every service,
// route and value after interpolation, with secrets masked (the digest is
// shown and audited; a secret must not be guessable from it) and the work
// tree's own path left out (the same commit and config give the same digest
// in every generation).
func stackDigest(st *tandem.Stack, secrets []string) string {
	b, _ := json.Marshal(struct {
		Services []*tandem.Service
		Routes   []tandem.Route
		Preview  tandem.PreviewSettings
	}{st.Services, st.Routes, st.Preview})
	s := strings.ReplaceAll(string(b), st.Dir, "$STACK")
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "$SECRET")
		}
	}
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}
