package dashboard

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

//go:embed templates/*.html
var templateFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"time":   timeHTML,
	"age":    age,
	"short":  short,
	"state":  stateClass,
	"static": staticPath,
	"digest": shortDigest,
	"sorted": sortedKeys,
	"dur":    duration,
	"host":   hostOf,
}).ParseFS(templateFiles, "templates/*.html"))

// page is what every page shows around its own content.
type page struct {
	Title   string
	Nav     string // the section: "previews", "audit", "settings"
	Who     *tandem.Principal
	Admin   bool   // settings are shown
	CSRF    string // the anti-forgery token every form carries
	Notice  string
	Error   string
	Now     time.Time
	AuthURL string
	Data    any // the page's own
}

// newPage is a page for the request's person.
func (s *Server) newPage(w http.ResponseWriter, r *http.Request, title, nav string, data any) *page {
	who := s.who(r)
	return &page{Title: title, Nav: nav, Who: who, Admin: canAdmin(who, s.cfg.Repos), CSRF: s.cfg.Auth.CSRF(w, r),
		Notice: notices[r.URL.Query().Get("done")], Now: s.cfg.Now(), AuthURL: s.cfg.AuthURL, Data: data}
}

// notices are what a page says after a form that redirected to it: by
// key, so that no text of a link's choosing is shown.
var notices = map[string]string{
	"redeployed":    "A new generation is being made at the ref's current commit.",
	"destroyed":     "The preview is being destroyed.",
	"share-revoked": "The share link is revoked.",
	"grant-added":   "The grant is added.",
	"grant-removed": "The grant is removed.",
	"token-revoked": "The token is revoked.",
	"recorded":      "Recorded in the audit log.",
	"signed":        "Your signature is recorded in the audit log.",
}

// render writes the template name as a whole page.
func (s *Server) render(w http.ResponseWriter, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, p); err != nil {
		s.log.Error("dashboard: page", "page", name, "err", err)
		http.Error(w, "the page could not be made", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fragment renders the template name alone, for a live update.
func fragment(name string, data any) (string, error) {
	var buf bytes.Buffer
	err := pages.ExecuteTemplate(&buf, name, data)
	return buf.String(), err
}

// fail answers with err as a page: its code's status, and its message
// for people, unless it is tandem's own failure, which is logged instead.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := tandem.ErrorCode(err)
	msg := err.Error()
	if code == tandem.EINTERNAL {
		s.log.Error("dashboard", "path", r.URL.Path, "err", err)
		msg = "Something went wrong in tandem. Try again in a moment; the server's log says more."
	}
	p := s.newPage(w, r, titles[code], "", msg)
	s.render(w, tandem.HTTPStatus(code), "error", p)
}

var titles = map[string]string{
	tandem.EINVALID: "That did not work", tandem.ENOTFOUND: "Not found", tandem.ECONFLICT: "Not now",
	tandem.EUNAVAILABLE: "Not available", tandem.EFORBIDDEN: "Not allowed", tandem.EUNAUTHORIZED: "Sign in again",
	tandem.EINTERNAL: "Something went wrong", tandem.ETIMEOUT: "Timed out", tandem.EUNSUPPORTED: "Not supported",
}

// timeHTML shows a time in UTC, which the script shows in the viewer's
// time zone, keeping UTC for the hover.
func timeHTML(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	u := t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
		u.Format(time.RFC3339), u.Format("2006-01-02 15:04:05 UTC"), u.Format("2006-01-02 15:04 UTC")))
}

// age says how long ago t was, as people say it: "5 min", "3 h", "2 d".
func age(t, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return duration(now.Sub(t))
}

// duration says a span of time in its largest whole unit.
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
}

// hostOf is a URL without its scheme: "pr-7.previews.example.com".
func hostOf(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	return rest
}

// short is a commit as people read it.
func short(commit string) string { return commit[:min(len(commit), 12)] }

// shortDigest is "sha256:ab12…" with its first 12 hex digits.
func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok {
		return short(d)
	}
	return alg + ":" + short(hex)
}

// stateClass is the style of a state's badge (its text always says it).
func stateClass(s tandem.PreviewState) string {
	switch s {
	case tandem.PreviewReady:
		return "ok"
	case tandem.PreviewFailed:
		return "bad"
	case tandem.PreviewDestroying:
		return "off"
	}
	return "busy"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
