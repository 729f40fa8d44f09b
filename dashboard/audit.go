package dashboard

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/httpapi"
)

// auditMax bounds the entries a page shows: the newest; an export has all.
const auditMax = 200

type auditData struct {
	Repo, Preview string
	Repos         []string
	Entries       []item
	Kinds         map[int64]string
	Checkpoint    string // the signed note, as the API publishes it
	Key           string // the log's public key, to verify a bundle with
	Export        string // the export's link, "" if the person may not
	Off           bool   // the server keeps no log
}

// auditScope checks who may read the entries repo and preview select,
// and returns the repositories to read: repo, or every one the person may
// view. A preview's entries are read within a repository, as a name may
// have been a preview of another before.
func (s *Server) auditScope(who *tandem.Principal, repo, preview string) ([]string, error) {
	if repo != "" {
		return []string{repo}, httpapi.Allowed(who, repo, tandem.RoleViewer, "read the audit log of "+repo)
	}
	if preview != "" {
		return nil, tandem.Errorf(tandem.EINVALID, "choose the repository of preview %s", preview)
	}
	if who.Can(tandem.AllRepos, tandem.RoleViewer) {
		return []string{""}, nil
	}
	var repos []string
	for _, r := range s.cfg.Repos {
		if who.Can(r.Name, tandem.RoleViewer) {
			repos = append(repos, r.Name)
		}
	}
	return repos, nil
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	who, q := s.who(r), r.URL.Query()
	d := auditData{Repo: q.Get("repo"), Preview: q.Get("preview"), Off: s.cfg.Audit == nil}
	for _, repo := range s.cfg.Repos {
		if who.Can(repo.Name, tandem.RoleViewer) {
			d.Repos = append(d.Repos, repo.Name)
		}
	}
	repos, err := s.auditScope(who, d.Repo, d.Preview)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !d.Off {
		if err := s.readAudit(c, &d, repos); err != nil {
			s.fail(w, r, err)
			return
		}
		if d.Repo != "" || who.Can(tandem.AllRepos, tandem.RoleViewer) {
			d.Export = "/audit/export?" + url.Values{"repo": {d.Repo}, "preview": {d.Preview}}.Encode()
		}
	}
	s.render(w, http.StatusOK, "audit", s.newPage(w, r, "Audit log", "audit", d))
}

// readAudit fills in the newest entries of repos, the checkpoint and the key.
func (s *Server) readAudit(ctx context.Context, d *auditData, repos []string) error {
	var entries []*audit.Entry
	for _, repo := range repos {
		es, err := s.cfg.Audit.Entries(ctx, tandem.AuditFilter{Repo: repo, Preview: d.Preview}, auditMax)
		if err != nil {
			return err
		}
		entries = append(entries, es...)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Index > entries[j].Index })
	if len(entries) > auditMax {
		entries = entries[:auditMax]
	}
	for _, e := range entries {
		it := entryItem(e)
		it.Detail = e.Predicate.Preview + ": " + it.Detail
		d.Entries = append(d.Entries, it)
	}
	cp, err := s.cfg.Audit.Checkpoint(ctx)
	if err != nil {
		return err
	}
	d.Checkpoint = string(cp)
	d.Key, err = s.cfg.Audit.PublicKey().VerifierKey(s.cfg.Audit.Origin())
	return err
}

// auditExport answers a bundle of the entries selected, as tandem audit
// export writes it, for an auditor to verify offline.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) {
	who, q := s.who(r), r.URL.Query()
	repo, preview := q.Get("repo"), q.Get("preview")
	if _, err := s.auditScope(who, repo, preview); err != nil || s.cfg.Audit == nil || repo == "" && !who.Can(tandem.AllRepos, tandem.RoleViewer) {
		if err == nil {
			err = httpapi.Allowed(who, tandem.AllRepos, tandem.RoleViewer, "export the whole audit log")
		}
		if s.cfg.Audit == nil {
			err = tandem.Errorf(tandem.EUNSUPPORTED, "this server keeps no audit log")
		}
		s.fail(w, r, err)
		return
	}
	dir, err := os.MkdirTemp("", "tandem-export-")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "bundle.tar.gz")
	if _, _, err := s.cfg.Audit.Export(r.Context(), out, audit.ExportOptions{Repo: repo, Preview: preview, Evidence: s.cfg.Evidence}); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := os.Open(out)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	sel := "all"
	switch {
	case preview != "":
		sel = repo + "-" + preview
	case repo != "":
		sel = repo
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="tandem-audit-%s-%s.tar.gz"`,
		safeName(sel), s.cfg.Now().UTC().Format("20060102T150405Z")))
	io.Copy(w, f)
}
