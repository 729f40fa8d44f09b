//go:build linux

package process

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
)

func writeScript(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func gzipped(t *testing.T, s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// initdbStack is a postgres service with mounts, and a client.
func initdbStack(mounts ...tandem.Mount) (db, client *tandem.Service) {
	db = &tandem.Service{Name: "db", Image: "postgres:16",
		Environment: map[string]string{"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop"},
		Mounts:      mounts}
	client = &tandem.Service{Name: "api", Context: "/", Environment: map[string]string{"PGPASSWORD": "reader-pw"}}
	return db, client
}

// initdbDirMount mounts dir as /docker-entrypoint-initdb.d; fileMount
// mounts one file into it, as name.
func initdbDirMount(dir string) tandem.Mount {
	return tandem.Mount{Type: "bind", Source: dir, Target: "/docker-entrypoint-initdb.d", ReadOnly: true}
}

func fileMount(file, name string) tandem.Mount {
	return tandem.Mount{Type: "bind", Source: file, Target: "/docker-entrypoint-initdb.d/" + name, ReadOnly: true}
}

func startDB(t *testing.T, sb *Sandbox, db *tandem.Service, out io.Writer) (tandem.Process, error) {
	t.Helper()
	p, err := sb.Start(context.Background(), db, out, out)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { p.(*proc).Signal(os.Interrupt); p.Wait() })
	waitFor(t, "postgres", 30*time.Second, func() bool {
		return sb.Exec(context.Background(), db, []string{"pg_isready", "-q", "-h", "127.0.0.1"}, io.Discard, io.Discard) == nil
	})
	return p, nil
}

func TestInitdbScriptsRunOnFirstStartOnly(t *testing.T) {
	if _, err := New().postgresBins(); err != nil {
		t.Skip(err)
	}
	sb := newSandbox(t, "db", "api")
	src := sb.spec.WorkTree
	dir := filepath.Join(src, "initdb")
	writeScript(t, filepath.Join(dir, "01-schema.sql"), "create table article (title text);\n", 0o644)
	writeScript(t, filepath.Join(dir, "02-data.sql.gz"), gzipped(t, "insert into article values ('from gz');\n"), 0o644)
	// Executable: run, with the image's variables.
	writeScript(t, filepath.Join(dir, "03-grant.sh"), `#!/bin/bash
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
create role reader login password 'reader-pw';
grant select on article to reader;
insert into article values ('by $POSTGRES_USER in $POSTGRES_DB');
SQL
`, 0o755)
	// Not executable: sourced, so the image's helper is there.
	writeScript(t, filepath.Join(dir, "04-sourced.sh"), `docker_process_sql -c "insert into article values ('sourced')"
`, 0o644)
	writeScript(t, filepath.Join(dir, "README"), "not a script\n", 0o644)
	db, client := initdbStack(initdbDirMount(dir))

	var out testutil.Buffer
	p, err := startDB(t, sb, db, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rows := func() string {
		t.Helper()
		var q bytes.Buffer
		if err := sb.Exec(context.Background(), client, []string{"psql", "-h", "db", "-U", "reader", "-d", "shop", "-tAc", "select string_agg(title, ',' order by title) from article"}, &q, &q); err != nil {
			t.Fatalf("psql: %v: %s\nserver: %s", err, q.String(), out.String())
		}
		return strings.TrimSpace(q.String())
	}
	if got, want := rows(), "by app in shop,from gz,sourced"; got != want {
		t.Errorf("rows = %q, want %q", got, want)
	}
	for _, want := range []string{"sourcing", "04-sourced.sh", "ignoring", "README"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// The temporary server listened on its socket only, and is gone: the
	// real one runs, with TCP.
	p.(*proc).Signal(os.Interrupt)
	p.Wait()

	// A second start finds the data and runs nothing again.
	out.Reset()
	if _, err := startDB(t, sb, db, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "initdb.d") {
		t.Errorf("scripts ran again:\n%s", out.String())
	}
	if got := rows(); strings.Count(got, ",") != 2 {
		t.Errorf("rows after restart: %q", got)
	}
}

func TestInitdbScriptFailureNamesItAndRetries(t *testing.T) {
	if _, err := New().postgresBins(); err != nil {
		t.Skip(err)
	}
	sb := newSandbox(t, "db")
	src := sb.spec.WorkTree
	// Files mounted one by one, under names of their own.
	schema, data := filepath.Join(src, "schema.sql"), filepath.Join(src, "data.sql")
	writeScript(t, schema, "create table article (title text);\n", 0o644)
	writeScript(t, data, "insert into articles values ('typo');\n", 0o644)
	db, _ := initdbStack(fileMount(schema, "01-schema.sql"), fileMount(data, "02-data.sql"))

	var out testutil.Buffer
	_, err := sb.Start(context.Background(), db, &out, &out)
	if err == nil {
		t.Fatal("a failing script did not fail the start")
	}
	t.Logf("start: %v", err)
	for _, want := range []string{"02-data.sql", `relation "articles" does not exist`, "initialises it again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	host := sb.pgDataPath(db, mustBins(t).major)
	if entries, _ := os.ReadDir(host); len(entries) != 0 {
		t.Errorf("the data directory kept %d entries", len(entries))
	}

	// Fixed, the next start initialises afresh and runs every script.
	writeScript(t, data, "insert into article values ('fixed');\n", 0o644)
	out.Reset()
	if _, err := startDB(t, sb, db, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var q bytes.Buffer
	if err := sb.Exec(context.Background(), db, []string{"psql", "-U", "app", "-d", "shop", "-tAc", "select title from article"}, &q, &q); err != nil {
		t.Fatalf("psql: %v: %s", err, q.String())
	}
	if got := strings.TrimSpace(q.String()); got != "fixed" {
		t.Errorf("rows = %q", got)
	}
}

func TestInitdbScriptsSkippedForSnapshots(t *testing.T) {
	if _, err := New().postgresBins(); err != nil {
		t.Skip(err)
	}
	src := t.TempDir()
	dir := filepath.Join(src, "initdb")
	writeScript(t, filepath.Join(dir, "01.sql"), "create table marker (n int);\n", 0o644)
	db, _ := initdbStack(initdbDirMount(dir))
	plain := &tandem.Service{Name: "db", Image: db.Image, Environment: db.Environment}

	// A snapshot made without the scripts...
	seeded := newSandbox(t, "db")
	p, err := startDB(t, seeded, plain, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p.(*proc).Signal(os.Interrupt)
	p.Wait()
	snap, err := seeded.Snapshot(context.Background(), plain)
	if err != nil {
		t.Fatal(err)
	}
	// ...restored where the scripts are mounted: they do not run.
	sb, err := testRuntime.NewSandbox(context.Background(), tandem.SandboxSpec{Name: t.Name(), Services: []string{"db"},
		DataDir: t.TempDir(), WorkTree: src, Restore: map[string]string{"db": snap}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	var out testutil.Buffer
	if _, err := startDB(t, sb.(*Sandbox), db, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "initdb.d") || !strings.Contains(out.String(), "copied from snapshot") {
		t.Errorf("output:\n%s", out.String())
	}
}

func mustBins(t *testing.T) *postgresBins {
	b, err := New().postgresBins()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
