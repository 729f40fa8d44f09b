package seed

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/process"
)

func TestMain(m *testing.M) {
	process.Init()
	os.Exit(m.Run())
}

func write(t *testing.T, path, body string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stack is an api that seeds a postgres db with psql from its migrations.
func stack(t *testing.T, seed ...string) *tandem.Stack {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "migrations", "0001_articles.sql"), "create table article (title text);\n")
	write(t, filepath.Join(dir, "seeds", "demo.sql"), "insert into article values ('seeded');\n")
	write(t, filepath.Join(dir, "src", "page.js"), "export default 1\n")
	if seed == nil {
		seed = []string{"psql -v ON_ERROR_STOP=1 -h db -U app -d shop -f migrations/0001_articles.sql", "psql -v ON_ERROR_STOP=1 -h db -U app -d shop -f seeds/demo.sql"}
	}
	db := &tandem.Service{Name: "db", Image: "postgres:16", Environment: map[string]string{"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop"},
		Healthcheck: &tandem.Healthcheck{Test: []string{"CMD-SHELL", "pg_isready -U app -d shop"}}}
	api := &tandem.Service{Name: "api", Context: dir, Environment: map[string]string{"PGPASSWORD": "pw", "PATH": "/usr/local/bin:/usr/bin:/bin"},
		Seed: seed, DependsOn: []tandem.Dependency{{Service: "db", Condition: tandem.ServiceHealthy, Required: true}}}
	return &tandem.Stack{Name: "shop", Services: []*tandem.Service{api, db}}
}

func TestPlanKeyFollowsWhatSeedingReads(t *testing.T) {
	st := stack(t)
	p, err := PlanFor(st)
	if err != nil || p == nil || p.Seeder.Name != "api" || len(p.Databases) != 1 || p.Databases[0].Name != "db" || len(p.Key) != 32 {
		t.Fatalf("plan %+v %v", p, err)
	}
	key := func() string {
		p, err := PlanFor(st)
		if err != nil {
			t.Fatal(err)
		}
		return p.Key
	}
	dir := st.Service("api").Context
	write(t, filepath.Join(dir, "src", "page.js"), "export default 2\n")
	if key() != p.Key {
		t.Error("a page's change made a new snapshot key")
	}
	write(t, filepath.Join(dir, "migrations", "0002_more.sql"), "alter table article add column body text;\n")
	k2 := key()
	if k2 == p.Key {
		t.Error("a new migration kept the snapshot key")
	}
	st.Service("api").Seed = append(st.Service("api").Seed, "true")
	if key() == k2 {
		t.Error("a new seed command kept the snapshot key")
	}
	st.Service("db").Environment["POSTGRES_DB"] = "other"
	if key() == k2 {
		t.Error("another database name kept the snapshot key")
	}
	if p, err := PlanFor(&tandem.Stack{Services: []*tandem.Service{{Name: "web"}}}); p != nil || err != nil {
		t.Errorf("no seed: %v %v", p, err)
	}
	st.Service("api").DependsOn = nil
	if _, err := PlanFor(st); err == nil || !strings.Contains(err.Error(), "depends on no postgres service") {
		t.Errorf("seed without a database: %v", err)
	}
}

func TestSnapshotIsMadeOnceAndRestores(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for the process runtime")
	}
	st := stack(t)
	p, _ := PlanFor(st)
	rt := &process.Runtime{SnapshotDir: t.TempDir()}
	s := &Snapshots{Dir: t.TempDir(), Runtime: rt}
	var out bytes.Buffer
	var wg sync.WaitGroup
	made := make([]bool, 3)
	for i := range made {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if _, made[i], err = s.Ensure(context.Background(), st, p, &bytes.Buffer{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := count(made); n != 1 {
		t.Fatalf("snapshot made %d times", n)
	}
	restore, again, err := s.Ensure(context.Background(), st, p, &out)
	if err != nil || again || restore["db"] == "" {
		t.Fatalf("%v %v %v", restore, again, err)
	}

	// A preview's instance starts from a copy.
	sb, err := rt.NewSandbox(context.Background(), tandem.SandboxSpec{Name: "preview", Services: []string{"api", "db"}, DataDir: t.TempDir(),
		WorkTree: st.Service("api").Context, Restore: restore})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	db := st.Service("db")
	pr, err := sb.Start(context.Background(), db, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Stop(context.Background(), time.Minute)
	deadline := time.Now().Add(30 * time.Second)
	for sb.Exec(context.Background(), db, []string{"pg_isready", "-U", "app", "-d", "shop"}, io.Discard, io.Discard) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("restored db not ready:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var q bytes.Buffer
	if err := sb.Exec(context.Background(), st.Service("api"), []string{"psql", "-h", "db", "-U", "app", "-d", "shop", "-tAc", "select title from article"}, &q, &q); err != nil {
		t.Fatalf("%v %s", err, q.String())
	}
	if strings.TrimSpace(q.String()) != "seeded" {
		t.Errorf("restored rows %q", q.String())
	}
}

func TestFailedSeedKeepsNoSnapshot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for the process runtime")
	}
	st := stack(t, "psql -v ON_ERROR_STOP=1 -h db -U app -d shop -c 'select * from missing'")
	p, _ := PlanFor(st)
	rt := &process.Runtime{SnapshotDir: t.TempDir()}
	s := &Snapshots{Dir: t.TempDir(), Runtime: rt}
	var out bytes.Buffer
	_, _, err := s.Ensure(context.Background(), st, p, &out)
	if err == nil || !strings.Contains(err.Error(), `seed command "psql`) || !strings.Contains(out.String(), `relation "missing" does not exist`) {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	entries, _ := os.ReadDir(s.Dir)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if left, _ := os.ReadDir(rt.SnapshotDir); len(left) != 0 {
		t.Errorf("snapshots left behind: %v", left)
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
