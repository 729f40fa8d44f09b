package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// The dashboard's script and styles, its own and embedded in the binary:
// no third-party code runs in the dashboard, so its policy allows no
// script but these files.
//
//go:embed static
var staticFiles embed.FS

// staticVersion names the files' current content in their paths, so that
// browsers may keep them for good and never run an old script.
var staticVersion = func() string {
	h := sha256.New()
	fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := staticFiles.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

// staticPath is where a static file is served.
func staticPath(name string) string { return "/static/" + staticVersion + "/" + name }

// staticHandler serves /static/VERSION/NAME.
func staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/static/"), "/")
		b, err := staticFiles.ReadFile("static/" + name)
		if version != staticVersion || strings.Contains(name, "/") || err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
}
