// Package seed makes seeded database snapshots: the service that declares
// x-tandem.seed runs its seed commands once against fresh databases, the
// result is kept under a key made of what produced it, and every new
// preview starts from a copy, in milliseconds instead of the minutes
// migrations and seed scripts take.
package seed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/build"
	"github.com/tandem-dev/tandem/internal/fsutil"
)

// Env is set to "1" in the seeding service's environment when its databases
// came from a snapshot, so an entrypoint that migrates and seeds can skip it.
const Env = "TANDEM_SEEDED"

// Plan is how a stack's databases are seeded.
type Plan struct {
	Seeder    *tandem.Service   // the service with x-tandem.seed
	Databases []*tandem.Service // the database services it depends on
	Key       string            // digest of what produces the snapshot
	// WorkTree is what the seed commands may see of the host (a preview's
	// checkout): the stack's directory, else the seeder's build context,
	// if empty.
	WorkTree string
}

// PlanFor returns the stack's seeding plan, or nil if no service seeds.
func PlanFor(st *tandem.Stack) (*Plan, error) {
	var p *Plan
	for _, svc := range st.Services {
		if len(svc.Seed) == 0 {
			continue
		}
		if p != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "services %s and %s both declare x-tandem.seed: one service seeds the databases", p.Seeder.Name, svc.Name)
		}
		p = &Plan{Seeder: svc}
	}
	if p == nil {
		return nil, nil
	}
	for _, d := range p.Seeder.DependsOn {
		if db := st.Service(d.Service); db != nil && isDatabase(db) {
			p.Databases = append(p.Databases, db)
		}
	}
	if len(p.Databases) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "service %s declares x-tandem.seed but depends on no postgres service to seed", p.Seeder.Name)
	}
	key, err := p.key()
	if err != nil {
		return nil, err
	}
	p.Key = key
	return p, nil
}

func isDatabase(svc *tandem.Service) bool {
	name := svc.Image
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return path.Base(name) == "postgres" && svc.TandemCommand == nil
}

// seedFile reports whether a file of the seeding service is something seed
// commands read: migrations, fixtures, seed data and code, SQL.
func seedFile(rel string) bool {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		switch p {
		case "migrations", "fixtures", "seeds", "seed":
			return true
		case "commands":
			if i > 0 && parts[i-1] == "management" {
				return true
			}
		}
	}
	base := parts[len(parts)-1]
	return strings.HasSuffix(base, ".sql") || strings.HasPrefix(base, "seed")
}

// key digests the seed commands, how each database is set up, and the
// files of the seeding service that seed commands read. A change to a
// migration makes a new key; a change to a page does not.
func (p *Plan) key() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "seed %q\n", p.Seed())
	for _, db := range p.Databases {
		fmt.Fprintf(h, "db %s %s %q", db.Name, db.Image, db.Command)
		for _, k := range []string{"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_INITDB_ARGS", "POSTGRES_HOST_AUTH_METHOD", "PGDATA"} {
			fmt.Fprintf(h, " %s=%q", k, db.Environment[k])
		}
		fmt.Fprintln(h)
	}
	if dir := p.Seeder.Context; dir != "" {
		files, err := build.Inputs(dir)
		if err != nil {
			return "", fmt.Errorf("seed: read %s: %w", dir, err)
		}
		var read []string
		for _, f := range files {
			if seedFile(f) {
				read = append(read, f)
			}
		}
		sort.Strings(read)
		d, err := build.Digest(dir, read)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "files %s\n", d)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// Seed returns the seed commands.
func (p *Plan) Seed() []string { return p.Seeder.Seed }

// Snapshots makes and keeps snapshots on a runtime. The runtime keeps the
// data; Dir keeps, per key, which of the runtime's snapshots hold it.
type Snapshots struct {
	Dir     string // one directory per key: KEY/RUNTIME.json names the snapshots
	Runtime tandem.Runtime
	// Limits bound the sandbox the seed commands run in, as a preview's
	// instance is bound: they are a pull request's code too.
	Limits tandem.Limits
	// Ready bounds how long a fresh database may take to accept
	// connections (default 2 minutes).
	Ready time.Duration
}

// Ensure returns, by database service, the snapshot to restore for p,
// making it first if none exists. made says whether it ran the seed
// commands. Concurrent calls for one key make it once.
func (s *Snapshots) Ensure(ctx context.Context, st *tandem.Stack, p *Plan, out io.Writer) (restore map[string]string, made bool, err error) {
	dir := filepath.Join(s.Dir, p.Key)
	// Snapshots hold the databases' data: nobody else's to read.
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, false, err
	}
	l, err := fsutil.Lock(ctx, dir+".lock", false)
	if err != nil {
		return nil, false, err
	}
	defer l.Unlock()
	if restore, err := s.read(p.Key); err == nil && covers(restore, p.Databases) {
		return restore, false, nil
	}
	if restore, err = s.make(ctx, st, p, out); err != nil {
		return nil, false, err
	}
	if err := s.write(p.Key, restore); err != nil {
		return nil, false, err
	}
	return restore, true, nil
}

// Remove deletes the snapshots made for key, on every runtime that made
// some, and what Dir holds of them.
func (s *Snapshots) Remove(ctx context.Context, key string) error {
	dir := filepath.Join(s.Dir, key)
	l, err := fsutil.Lock(ctx, dir+".lock", false)
	if err != nil {
		return err
	}
	defer l.Unlock()
	if restore, err := s.read(key); err == nil {
		for _, id := range restore {
			if err := s.Runtime.RemoveSnapshot(ctx, id); err != nil {
				return err
			}
		}
	}
	return os.RemoveAll(dir)
}

// manifest is where Dir names key's snapshots on s's runtime.
func (s *Snapshots) manifest(key string) string {
	return filepath.Join(s.Dir, key, s.Runtime.Name()+".json")
}

func (s *Snapshots) read(key string) (map[string]string, error) {
	b, err := os.ReadFile(s.manifest(key))
	if err != nil {
		return nil, err
	}
	var restore map[string]string
	if err := json.Unmarshal(b, &restore); err != nil {
		return nil, fmt.Errorf("seed: %s: %w", s.manifest(key), err)
	}
	return restore, nil
}

func (s *Snapshots) write(key string, restore map[string]string) error {
	b, err := json.Marshal(restore)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.manifest(key)), 0o700); err != nil {
		return err
	}
	tmp := s.manifest(key) + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.manifest(key))
}

func covers(restore map[string]string, dbs []*tandem.Service) bool {
	for _, db := range dbs {
		if restore[db.Name] == "" {
			return false
		}
	}
	return true
}

// make runs the seed commands against fresh databases in a sandbox of its
// own, stops them cleanly, and snapshots each; it returns their ids.
func (s *Snapshots) make(ctx context.Context, st *tandem.Stack, p *Plan, out io.Writer) (map[string]string, error) {
	work, err := os.MkdirTemp(s.Dir, ".seeding-"+p.Key[:8]+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	names := make([]string, 0, len(st.Services))
	for _, svc := range st.Services {
		names = append(names, svc.Name)
	}
	tree := p.WorkTree
	for _, d := range []string{st.Dir, p.Seeder.Context} {
		if tree == "" {
			tree = d
		}
	}
	sb, err := s.Runtime.NewSandbox(ctx, tandem.SandboxSpec{Name: "seed-" + p.Key[:8], Services: names, DataDir: filepath.Join(work, "data"),
		WorkTree: tree, Limits: s.Limits})
	if err != nil {
		return nil, err
	}
	defer sb.Close()

	var procs []tandem.Process
	stop := func() {
		for _, pr := range procs {
			pr.Stop(ctx, time.Minute) // the image's stop signal: postgres's fast, clean shutdown
		}
		procs = nil
	}
	defer stop()
	for _, db := range p.Databases {
		pr, err := sb.Start(ctx, db, out, out)
		if err != nil {
			return nil, fmt.Errorf("seed: start %s: %w", db.Name, err)
		}
		procs = append(procs, pr)
		if err := s.awaitReady(ctx, sb, db); err != nil {
			return nil, err
		}
	}
	for _, c := range p.Seed() {
		fmt.Fprintf(out, "tandem: seed: %s\n", c)
		if err := sb.Exec(ctx, p.Seeder, []string{"/bin/sh", "-c", c}, out, out); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "seed command %q of service %s: %w", c, p.Seeder.Name, err)
		}
	}
	stop()
	restore := map[string]string{}
	for _, db := range p.Databases {
		id, err := sb.Snapshot(ctx, db)
		if err != nil {
			for _, made := range restore {
				s.Runtime.RemoveSnapshot(ctx, made)
			}
			return nil, err
		}
		restore[db.Name] = id
	}
	return restore, nil
}

// awaitReady waits until db answers its healthcheck, or pg_isready.
func (s *Snapshots) awaitReady(ctx context.Context, sb tandem.Sandbox, db *tandem.Service) error {
	argv := db.Healthcheck.Argv()
	if len(argv) == 0 {
		argv = []string{"pg_isready", "-q", "-h", "127.0.0.1"}
	}
	limit := s.Ready
	if limit == 0 {
		limit = 2 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for {
		check, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := sb.Exec(check, db, argv, io.Discard, io.Discard)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return tandem.Errorf(tandem.ETIMEOUT, "seed: %s did not become ready within %s: %w", db.Name, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
