package audit

import (
	"net/http"
	"strings"
)

// Public answers the log's public paths and hands every other request to
// next. Nothing here needs a token: checkpoints and the key are for anyone
// to copy, which is what lets an auditor, or a second server, later show
// the log was not rewritten.
//
//	GET /v1/audit/checkpoint   the latest signed checkpoint (C2SP tlog-checkpoint)
//	GET /v1/audit/key          the public key, as a note verifier key
//	GET /v1/audit/key.pem      the same key, PKIX PEM
func (l *Log) Public(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/audit/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		cp, err := l.Checkpoint(r.Context())
		if err != nil {
			http.Error(w, "the log's checkpoint is unavailable", http.StatusServiceUnavailable)
			return
		}
		plain(w, cp)
	})
	mux.HandleFunc("GET /v1/audit/key", func(w http.ResponseWriter, r *http.Request) {
		vkey, err := l.PublicKey().VerifierKey(l.Origin())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		plain(w, []byte(vkey+"\n"))
	})
	mux.HandleFunc("GET /v1/audit/key.pem", func(w http.ResponseWriter, r *http.Request) {
		plain(w, l.PublicKey().PEM())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/audit/") {
			mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func plain(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}
