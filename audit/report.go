package audit

import (
	"bytes"
	_ "embed"
	"html/template"
	"sort"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

//go:embed report.html.tmpl
var reportText string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"short": func(s string) string { return s[:min(len(s), 12)] },
	"image": func(mediaType string) bool { return strings.HasPrefix(mediaType, "image/") },
	"hex":   func(d string) string { h, _ := digestHex(d); return h },
}).Parse(reportText))

// reportView is what the HTML report and the OSCAL document show: the
// bundle's entries grouped by preview, oldest first.
type reportView struct {
	Manifest *Manifest
	Previews []*previewView
}

type previewView struct {
	Name    string
	Repo    string
	Entries []*Entry
	Signed  []*Entry // the entries that are signatures
	First   time.Time
	Last    time.Time
}

func newReportView(m *Manifest, entries []*Entry) *reportView {
	v := &reportView{Manifest: m}
	by := map[string]*previewView{}
	for _, e := range entries {
		ev := e.Predicate.AuditEvent
		p := by[ev.Preview]
		if p == nil {
			p = &previewView{Name: ev.Preview, Repo: ev.Repo, First: ev.Time}
			by[ev.Preview] = p
			v.Previews = append(v.Previews, p)
		}
		p.Entries = append(p.Entries, e)
		p.Last = ev.Time
		if ev.Kind == tandem.AuditSigned && ev.Signature != nil {
			p.Signed = append(p.Signed, e)
		}
	}
	sort.Slice(v.Previews, func(i, j int) bool { return v.Previews[i].Name < v.Previews[j].Name })
	return v
}

// writeReports writes the OSCAL assessment results and the HTML report.
func writeReports(w *hashingWriter, m *Manifest, entries []*Entry) error {
	v := newReportView(m, entries)
	doc, err := assessmentResults(v)
	if err != nil {
		return err
	}
	if err := w.write(OSCALFile, doc); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, v); err != nil {
		return err
	}
	return w.write(ReportFile, b.Bytes())
}
