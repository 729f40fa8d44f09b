package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func previewVars(name, pr string) tandem.Vars {
	host := name + ".previews.example.com"
	return tandem.Vars{Host: host, URL: "http://" + host + ":8080", Name: name, PRNumber: pr, GitSHA: "abc"}
}

// What a build does with the placeholders comes out as the preview's own
// values once replaced: as they are, inside a URL, the host or the origin
// taken out of one, escaped into a query.
func TestPlaceholdersReplaceToThePreviewsValues(t *testing.T) {
	v := previewVars("pr-7", "7")
	ph, repl := Placeholders(v)
	if ph.GitSHA != "abc" || ph.Host == v.Host || ph.URL == v.URL || ph.Name == v.Name || ph.PRNumber == v.PRNumber {
		t.Fatalf("placeholders %+v", ph)
	}
	if again, _ := Placeholders(previewVars("pr-8", "8")); fmt.Sprint(again) != fmt.Sprint(ph) {
		t.Errorf("two previews got different placeholders: %+v %+v", again, ph)
	}
	for built, want := range map[string]string{
		"https://" + ph.Host + "/api":                      "https://pr-7.previews.example.com/api",
		ph.URL + "/api":                                    "http://pr-7.previews.example.com:8080/api",
		strings.TrimPrefix(ph.URL, "http://"):              "pr-7.previews.example.com:8080",
		`{"pr":` + ph.PRNumber + `,"n":"` + ph.Name + `"}`: `{"pr":7,"n":"pr-7"}`,
		"next=" + strings.ReplaceAll(ph.URL, "/", "%2F"):   "next=http:%2F%2Fpr-7.previews.example.com:8080",
	} {
		if got := string(replace([]byte(built), repl)); got != want {
			t.Errorf("%q: %q, want %q", built, got, want)
		}
		if found, bad := scan([]byte(built)); !found || bad != "" {
			t.Errorf("scan %q: %v %q", built, found, bad)
		}
	}
	// No pull request: the empty value stays as it is.
	if ph, _ := Placeholders(previewVars("main", "")); ph.PRNumber != "" {
		t.Errorf("PR_NUMBER of a preview without one: %q", ph.PRNumber)
	}
	// A URL that does not hold the host gets a placeholder of its own.
	odd := tandem.Vars{Host: "a.example.com", URL: "https://elsewhere.example.com", Name: "x"}
	ph, repl = Placeholders(odd)
	if got := string(replace([]byte(ph.URL+"/"+ph.Host+"/"+ph.Name), repl)); got != "https://elsewhere.example.com/a.example.com/x" {
		t.Errorf("odd values: %q", got)
	}
}

func TestScanFindsTransformedValues(t *testing.T) {
	ph, _ := Placeholders(previewVars("pr-7", "7"))
	for _, s := range []string{
		strings.ToUpper(ph.Host),                // upper-cased
		strings.TrimSuffix(ph.Host, ".invalid"), // a label cut off
		ph.Host[:9],                             // truncated
		"const h = '" + ph.Host[:len(ph.Host)-3] + "'",
	} {
		if _, bad := scan([]byte(s)); bad == "" {
			t.Errorf("%q: not seen as transformed", s)
		}
	}
	if found, bad := scan([]byte("nothing of a preview here")); found || bad != "" {
		t.Errorf("plain text: %v %q", found, bad)
	}
}

// buildScript writes a work tree whose build turns NEXT_PUBLIC_API_URL into
// outputs the way next build does: a client chunk, a prerendered page, a
// manifest, a random BUILD_ID, and a build cache in a binary file.
func buildScript(t *testing.T, script string) string {
	dir := filepath.Join(t.TempDir(), "web")
	write(t, filepath.Join(dir, "page.js"), "export default 1")
	write(t, filepath.Join(dir, "build.sh"), `set -e
echo build >> "$LOG"
mkdir -p .next/static/chunks .next/server/app .next/cache/webpack
echo "fetch(\"$NEXT_PUBLIC_API_URL/search/\")" > .next/static/chunks/page-1a2b.js
echo "<a href=\"$NEXT_PUBLIC_API_URL/articles/\">pr $NEXT_PUBLIC_PR</a>" > .next/server/app/index.html
echo "{\"api\":\"$NEXT_PUBLIC_API_URL\"}" > .next/prerender-manifest.json
head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' > .next/BUILD_ID
printf 'pack\000%s' "$NEXT_PUBLIC_API_URL" > .next/cache/webpack/0.pack
`+script)
	return dir
}

func placeholderStep(dir string, v tandem.Vars) Step {
	ph, repl := Placeholders(v)
	env := []string{"NEXT_PUBLIC_API_URL=https://" + ph.Host + "/api", "NEXT_PUBLIC_PR=" + ph.PRNumber}
	return Step{Service: "web", Dir: dir, Command: "sh build.sh", Env: env, KeyEnv: env, Replace: repl}
}

func TestCacheSharesOneBuildBetweenPreviews(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	c := &Cache{Dir: t.TempDir(), BaseEnv: []string{"PATH=/usr/bin:/bin", "LOG=" + log}}
	ctx := context.Background()
	var out bytes.Buffer
	a, b := buildScript(t, ""), buildScript(t, "")
	ra, err := c.Build(ctx, placeholderStep(a, previewVars("pr-1", "1")), &out)
	if err != nil || ra.Skipped || ra.Transformed != "" || ra.Replaced != 3 {
		t.Fatalf("first: %+v %v\n%s", ra, err, out.String())
	}
	rb, err := c.Build(ctx, placeholderStep(b, previewVars("pr-2", "2")), &out)
	if err != nil || !rb.Skipped || rb.Key != ra.Key || rb.Replaced != 3 {
		t.Fatalf("second: %+v %v", rb, err)
	}
	if n := strings.Count(string(must(os.ReadFile(log))), "build"); n != 1 {
		t.Errorf("built %d times", n)
	}
	for dir, name := range map[string]string{a: "pr-1", b: "pr-2"} {
		api := "https://" + name + ".previews.example.com/api"
		for file, want := range map[string]string{
			".next/static/chunks/page-1a2b.js": `fetch("` + api + `/search/")`,
			".next/server/app/index.html":      `<a href="` + api + `/articles/">pr ` + strings.TrimPrefix(name, "pr-") + `</a>`,
			".next/prerender-manifest.json":    `{"api":"` + api + `"}`,
		} {
			if got := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(dir, file))))); got != want {
				t.Errorf("%s %s: %q, want %q", name, file, got, want)
			}
		}
	}
	// One build: one BUILD_ID, so the chunks' names the pages refer to are
	// the same files in both.
	if string(must(os.ReadFile(filepath.Join(a, ".next", "BUILD_ID")))) != string(must(os.ReadFile(filepath.Join(b, ".next", "BUILD_ID")))) {
		t.Error("two BUILD_IDs")
	}
	// The cache keeps the placeholders, never a preview's value, and no
	// build cache.
	kept := filepath.Join(c.Dir, ra.Entries[0])
	if got := string(must(os.ReadFile(filepath.Join(kept, ".next", "static", "chunks", "page-1a2b.js")))); strings.Contains(got, "pr-1") || !strings.Contains(got, marker) {
		t.Errorf("cached chunk: %q", got)
	}
	if _, err := os.Stat(filepath.Join(kept, ".next", "cache")); !os.IsNotExist(err) {
		t.Error(".next/cache was kept as an output")
	}
}

// A value transformed at build time cannot be replaced: the preview is
// told, and every later preview of that code goes straight to its own build.
func TestCacheRefusesTransformedPlaceholders(t *testing.T) {
	for name, script := range map[string]string{
		"upper-cased":        `echo "$NEXT_PUBLIC_API_URL" | tr a-z A-Z > .next/static/upper.js`,
		"in a binary output": `printf 'x\000%s' "$NEXT_PUBLIC_API_URL" > .next/static/font.bin`,
		"precompressed":      `gzip -k .next/static/chunks/page-1a2b.js`,
		"integrity hashes":   `echo '{}' > .next/server/subresource-integrity-manifest.json`,
	} {
		t.Run(name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "log")
			c := &Cache{Dir: t.TempDir(), BaseEnv: []string{"PATH=/usr/bin:/bin", "LOG=" + log}}
			var out bytes.Buffer
			res, err := c.Build(context.Background(), placeholderStep(buildScript(t, script), previewVars("pr-1", "1")), &out)
			if err != nil || res.Transformed == "" {
				t.Fatalf("%+v %v\n%s", res, err, out.String())
			}
			again, err := c.Build(context.Background(), placeholderStep(buildScript(t, script), previewVars("pr-2", "2")), &out)
			if err != nil || again.Transformed != res.Transformed {
				t.Errorf("again: %+v %v", again, err)
			}
			if n := strings.Count(string(must(os.ReadFile(log))), "build"); n != 1 {
				t.Errorf("built %d times with placeholders", n)
			}
			// The preview's own build then runs as before.
			dir := buildScript(t, script)
			s := placeholderStep(dir, previewVars("pr-1", "1"))
			s.Env = []string{"NEXT_PUBLIC_API_URL=https://pr-1.previews.example.com/api", "NEXT_PUBLIC_PR=1"}
			s.KeyEnv, s.Replace = s.Env, nil
			if res, err := c.Build(context.Background(), s, &out); err != nil || res.Skipped || res.Transformed != "" {
				t.Errorf("own build: %+v %v", res, err)
			}
			if got := string(must(os.ReadFile(filepath.Join(dir, ".next", "prerender-manifest.json")))); !strings.Contains(got, "pr-1.previews") {
				t.Errorf("own build's output: %q", got)
			}
		})
	}
}

// A work tree's output path that leads elsewhere is not written through.
func TestReplaceInRefusesLinks(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	write(t, filepath.Join(other, "x.js"), marker+"name")
	os.Symlink(other, filepath.Join(dir, "out"))
	if err := replaceIn(dir, []string{"out/x.js"}, []Replacement{{marker + "name", "pr-1"}}); err == nil {
		t.Error("replaced through a link")
	}
	if got := string(must(os.ReadFile(filepath.Join(other, "x.js")))); got != marker+"name" {
		t.Errorf("the file behind the link: %q", got)
	}
}

func must(b []byte, err error) []byte { return b }
