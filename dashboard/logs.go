package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// logTail is how many lines a logs page starts with: more than tandem
// keeps of a service's output, so all of it.
const logTail = 1000

type logsData struct {
	P        *tandem.Preview
	Service  string
	Services []string
	Lines    []string
	Q        string // the lines shown contain it
	Note     string // why there are none
	LiveURL  string
	Download string
}

// logsPage shows a service's output: its last lines, those containing
// the search if there is one; the script follows new lines as they come.
func (s *Server) logsPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.viewPreview(w, r, tandem.RoleViewer, "view preview")
	if !ok {
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	service := r.PathValue("service")
	base := "/previews/" + url.PathEscape(p.Name) + "/logs/" + url.PathEscape(service)
	d := logsData{P: p, Service: service, Q: r.URL.Query().Get("q"), LiveURL: base + "/live", Download: base + "/download"}
	for _, st := range s.services(p.Name).Services {
		d.Services = append(d.Services, st.Service)
	}
	lines, err := s.cfg.Previews.Logs(c, p.Name, service, logTail)
	switch {
	case tandem.ErrorCode(err) == tandem.EUNAVAILABLE:
		d.Note = "No instance of " + p.Name + " runs now: its services' output shows here once one does."
	case err != nil:
		s.fail(w, r, err)
		return
	}
	for _, l := range lines {
		if d.Q == "" || strings.Contains(strings.ToLower(l), strings.ToLower(d.Q)) {
			d.Lines = append(d.Lines, l)
		}
	}
	s.render(w, http.StatusOK, "logs", s.newPage(w, r, service+" of "+p.Name, "previews", d))
}

// liveLogs streams a service's output: "reset", its last lines, then each
// new line. When the instance goes (a redeploy, a destroy) the stream
// ends, and the browser's next connection follows the new one.
func (s *Server) liveLogs(w http.ResponseWriter, r *http.Request) {
	p, ok := s.viewPreview(w, r, tandem.RoleViewer, "view preview")
	if !ok {
		return
	}
	service := r.PathValue("service")
	// Follow first, then read the tail: no line falls between.
	lines, cancel, err := s.cfg.Previews.Follow(p.Name, service)
	if err == nil {
		defer cancel()
	}
	st := s.stream(w, r)
	if st == nil {
		return
	}
	defer st.close()
	st.send("reset", "", "")
	if err != nil {
		st.send("note", "", "No instance of "+p.Name+" runs now.")
		select { // then the browser asks again, and follows one that runs by then
		case <-st.done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	tail, err := s.cfg.Previews.Logs(r.Context(), p.Name, service, logTail)
	if err != nil {
		st.send("note", "", err.Error())
		return
	}
	for _, l := range tail {
		st.send("line", "", l)
	}
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return
			}
			st.send("line", "", l.Text)
		case <-st.done():
			return
		}
	}
}

// downloadLogs answers a service's last lines as a text file.
func (s *Server) downloadLogs(w http.ResponseWriter, r *http.Request) {
	p, ok := s.viewPreview(w, r, tandem.RoleViewer, "view preview")
	if !ok {
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	service := r.PathValue("service")
	lines, err := s.cfg.Previews.Logs(c, p.Name, service, logTail)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-%s.log"`,
		safeName(p.Name), safeName(service), s.cfg.Now().UTC().Format("20060102T150405Z")))
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// safeName keeps what a file name may hold of s.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
