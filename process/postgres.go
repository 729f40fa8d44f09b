//go:build linux

package process

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/fsutil"
)

// pgSocketDir is where clients look for PostgreSQL's socket by default
// (Debian's libpq, and the official image). Each instance mounts its own
// directory there.
const pgSocketDir = "/var/run/postgresql"

// pgDataDir is the image's default PGDATA.
const pgDataDir = "/var/lib/postgresql/data"

// isPostgres reports whether image is the official PostgreSQL image, any tag.
func isPostgres(image string) bool {
	name, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	switch strings.TrimPrefix(strings.TrimPrefix(name, "docker.io/"), "library/") {
	case "postgres":
		return true
	}
	return false
}

// imageMajor is the major version an image tag asks for: "postgres:16.2" → 16.
func imageMajor(image string) int {
	i := strings.LastIndex(image, ":")
	if i < 0 {
		return 0
	}
	m := regexp.MustCompile(`^(\d+)`).FindString(image[i+1:])
	n, _ := strconv.Atoi(m)
	return n
}

type postgresBins struct {
	dir     string // holds postgres and initdb
	version string // "15.18"
	major   int
}

// postgresBins finds the machine's PostgreSQL server programs: on PATH, or
// the newest of Debian's /usr/lib/postgresql/*/bin.
func (r *Runtime) postgresBins() (*postgresBins, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.postgres != nil {
		return r.postgres, nil
	}
	var dirs []string
	if p, err := exec.LookPath("postgres"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(found, func(i, j int) bool { return pgDirVersion(found[i]) > pgDirVersion(found[j]) })
	dirs = append(dirs, found...)
	for _, dir := range dirs {
		if !isFile(filepath.Join(dir, "postgres")) || !isFile(filepath.Join(dir, "initdb")) {
			continue
		}
		out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
		if err != nil {
			continue
		}
		v := regexp.MustCompile(`(\d+)(\.\d+)?`).FindStringSubmatch(string(out))
		if v == nil {
			continue
		}
		b := &postgresBins{dir: dir, version: v[0]}
		b.major, _ = strconv.Atoi(v[1])
		r.postgres = b
		return b, nil
	}
	return nil, tandem.Errorf(tandem.EUNSUPPORTED,
		"postgres images run as a local PostgreSQL server, and none was found (looked for postgres and initdb on PATH and in /usr/lib/postgresql/*/bin): install PostgreSQL (apt-get install postgresql)")
}

func pgDirVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// pgHome is the postgres image's HOME, and the parent of its PGDATA.
const pgHome = "/var/lib/postgresql"

// preparePostgres initialises the service's data directory the first time,
// as the official image's entrypoint does, and returns the server's
// command. The server runs as the instance's user, like every service; its
// data is mounted where the image keeps it.
func (s *Sandbox) preparePostgres(ctx context.Context, svc *tandem.Service, cfg shimConfig, p *plan, stdout, stderr io.Writer) (shimConfig, error) {
	bins, err := s.rt.postgresBins()
	if err != nil {
		return cfg, err
	}
	if want := imageMajor(svc.Image); want != 0 && want != bins.major {
		fmt.Fprintf(stderr, "tandem: image %s runs as the local PostgreSQL %s\n", svc.Image, bins.version)
	}
	d, err := s.pgData(svc, bins.major)
	if err != nil {
		return cfg, err
	}
	if err := os.MkdirAll(d.host, 0o700); err != nil {
		return cfg, err
	}
	if err := os.Lchown(d.host, d.uid, d.gid); err != nil {
		return cfg, err
	}
	if d.mount {
		p.mounts = append(p.mounts, mount{Dst: d.target, Kind: kindBind, Src: d.host})
	}
	cfg.Mounts = p.all()
	cfg.Dir = d.target
	cfg.Env = mergeEnv(cfg.Env, "HOME="+pgHome, "PGDATA="+d.target, "PATH="+bins.dir+":"+envValue(cfg.Env, "PATH"))

	if id := s.spec.Restore[svc.Name]; id != "" && !isFile(filepath.Join(d.host, "PG_VERSION")) {
		snap, err := s.rt.snapshots().Path(id)
		if err != nil {
			return cfg, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		if err := restorePostgres(snap, d, bins); err != nil {
			return cfg, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		fmt.Fprintf(stdout, "tandem: PostgreSQL data copied from snapshot %s\n", id)
	}
	if !isFile(filepath.Join(d.host, "PG_VERSION")) {
		if err := s.firstStart(ctx, bins, cfg, p, d.host, svc, stdout, stderr); err != nil {
			return cfg, err
		}
	} else if v, _ := os.ReadFile(filepath.Join(d.host, "PG_VERSION")); strings.TrimSpace(string(v)) != strconv.Itoa(bins.major) {
		return cfg, tandem.Errorf(tandem.ECONFLICT,
			"service %s: the data in %s is from PostgreSQL %s, and this machine runs %s: remove the directory to start afresh",
			svc.Name, d.host, strings.TrimSpace(string(v)), bins.version)
	}
	// Compose's command for the image is the server's argv: "postgres -c
	// max_connections=200", or flags alone, as the image's entrypoint reads it.
	args := svc.Command
	if len(args) > 0 && (args[0] == "postgres" || args[0] == "postmaster") {
		args = args[1:]
	}
	cfg.Argv = append([]string{filepath.Join(bins.dir, "postgres"), "-D", d.target}, args...)
	return cfg, nil
}

// firstStart initialises an empty data directory and runs the
// /docker-entrypoint-initdb.d scripts. Unlike the image, which leaves a
// half-initialised directory that the next start takes for a ready one, a
// failure empties the directory, so the next start tries again from scratch.
func (s *Sandbox) firstStart(ctx context.Context, bins *postgresBins, cfg shimConfig, p *plan, host string, svc *tandem.Service, stdout, stderr io.Writer) error {
	scripts, err := s.initScripts(svc)
	if err != nil {
		return err
	}
	if err := s.initPostgres(ctx, bins, cfg, p, host, svc.Environment, stdout, stderr); err != nil {
		emptyDir(host)
		return fmt.Errorf("service %s: initialise PostgreSQL in %s: %w", svc.Name, host, err)
	}
	if len(scripts) == 0 {
		return nil
	}
	if err := s.runInitScripts(ctx, bins, cfg, p, scripts, svc.Environment, stdout, stderr); err != nil {
		emptyDir(host)
		return fmt.Errorf("service %s: %w\n(the data directory was emptied: the next start initialises it again)", svc.Name, err)
	}
	fmt.Fprintf(stdout, "tandem: ran %d script(s) of %s\n", len(scripts), initdbDir)
	return nil
}

// emptyDir removes what dir holds, and keeps dir: it may be a directory of
// the user's that a bind mount names.
func emptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// restorePostgres puts a copy of the snapshot snap in place of the empty
// data directory d, owned as d's data must be.
func restorePostgres(snap string, d pgData, bins *postgresBins) error {
	v, err := os.ReadFile(filepath.Join(snap, "PG_VERSION"))
	if os.IsNotExist(err) {
		return tandem.Errorf(tandem.ENOTFOUND, "snapshot %s is gone", filepath.Base(snap))
	}
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", snap, err)
	}
	if strings.TrimSpace(string(v)) != strconv.Itoa(bins.major) {
		return tandem.Errorf(tandem.ECONFLICT, "snapshot %s is of PostgreSQL %s, and this machine runs %s", snap, strings.TrimSpace(string(v)), bins.version)
	}
	if err := os.Remove(d.host); err != nil { // empty: made just before
		return err
	}
	if err := fsutil.CopyTree(snap, d.host, fsutil.Options{}); err != nil {
		return err
	}
	return chownTree(d.host, d.uid, d.gid)
}

// Snapshot copies the data of a postgres service that is not running into
// the runtime's SnapshotDir. The copy is root's: no instance's user owns
// it, whichever restores it.
func (s *Sandbox) Snapshot(_ context.Context, svc *tandem.Service) (string, error) {
	if !isPostgres(svc.Image) || svc.TandemCommand != nil {
		return "", tandem.Errorf(tandem.EUNSUPPORTED, "service %s: only postgres images can be snapshotted", svc.Name)
	}
	bins, err := s.rt.postgresBins()
	if err != nil {
		return "", err
	}
	host := s.pgDataPath(svc, bins.major)
	if isFile(filepath.Join(host, "postmaster.pid")) {
		return "", tandem.Errorf(tandem.ECONFLICT, "service %s: its server is running (or did not stop cleanly): stop it before taking a snapshot", svc.Name)
	}
	if !isFile(filepath.Join(host, "PG_VERSION")) {
		return "", tandem.Errorf(tandem.ENOTFOUND, "service %s has no data to snapshot in %s", svc.Name, host)
	}
	id, dir, err := s.rt.snapshots().New()
	if err != nil {
		return "", err
	}
	if err := fsutil.CopyTree(host, dir, fsutil.Options{}); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	if err := chownTree(dir, 0, 0); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return id, nil
}

// pgData is where a postgres service keeps its data.
type pgData struct {
	host     string // as tandem sees it
	target   string // as the server does: PGDATA
	mount    bool   // a directory of the instance's own, to mount at target (not in a volume)
	uid, gid int    // its owner on the host
}

// pgDataPath is where the service keeps its data on the host.
func (s *Sandbox) pgDataPath(svc *tandem.Service, major int) string {
	d, _ := s.pgData(svc, major)
	return d.host
}

// pgData finds the service's data: in the volume mounted at the image's
// PGDATA if the file declares one, else in a directory of the service's
// own. The major version is part of that path, so a machine with other
// binaries starts afresh instead of failing on old data. The instance's
// user owns it, but in a bind mount of the work tree, whose owner it keeps
// (the idmapped mount makes it the instance's).
func (s *Sandbox) pgData(svc *tandem.Service, major int) (pgData, error) {
	target := svc.Environment["PGDATA"]
	if target == "" {
		target = pgDataDir
	}
	target = path.Clean(target)
	d := pgData{target: target, uid: s.user.id, gid: s.user.id}
	for _, m := range svc.Mounts {
		rel, ok := within(target, path.Clean(m.Target))
		if !ok {
			continue
		}
		if m.Type != "bind" {
			d.host = filepath.Join(s.data, "volumes", m.Source, rel)
			return d, nil
		}
		d.host = filepath.Join(m.Source, rel)
		var st syscall.Stat_t
		if err := syscall.Stat(m.Source, &st); err != nil {
			return d, err
		}
		d.uid, d.gid = int(st.Uid), int(st.Gid)
		return d, nil
	}
	d.host = filepath.Join(s.data, "services", svc.Name, "pg"+strconv.Itoa(major))
	d.mount = true
	if _, err := privateDir(filepath.Dir(d.host)); err != nil {
		return d, err
	}
	return d, nil
}

// initPostgres does what the official image's docker-entrypoint.sh does for
// an empty PGDATA: initdb with POSTGRES_USER and POSTGRES_PASSWORD, accept
// password logins from anywhere (scram-sha-256, or POSTGRES_HOST_AUTH_METHOD),
// listen on every address, and create POSTGRES_DB. Each step runs through the
// shim, with the server's own mounts and account.
// host is the data directory as tandem sees it; cfg.Dir as the server does.
func (s *Sandbox) initPostgres(ctx context.Context, bins *postgresBins, cfg shimConfig, p *plan, host string, env map[string]string, stdout, stderr io.Writer) error {
	user := env["POSTGRES_USER"]
	if user == "" {
		user = "postgres"
	}
	db := env["POSTGRES_DB"]
	if db == "" {
		db = user
	}
	auth := env["POSTGRES_HOST_AUTH_METHOD"]
	if auth == "" {
		auth = "scram-sha-256"
	}
	password := env["POSTGRES_PASSWORD"]
	if password == "" && auth != "trust" {
		return tandem.Errorf(tandem.EINVALID,
			"the database is uninitialized and no superuser password is set: set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one), as the postgres image requires")
	}
	pgdata := cfg.Dir
	cfg.Dir = "/"
	cfg.Env = mergeEnv(cfg.Env, "LC_ALL=C.UTF-8")
	run := func(stdin io.Reader, out io.Writer, argv ...string) error {
		c := cfg
		c.Argv = argv
		var tail bytes.Buffer
		err := s.run(ctx, c, p, stdin, out, io.MultiWriter(stderr, &tail))
		if err != nil && tail.Len() > 0 {
			return fmt.Errorf("%w: %s", err, lastLine(strings.TrimSpace(tail.String())))
		}
		return err
	}
	args := []string{filepath.Join(bins.dir, "initdb"), "-D", pgdata,
		"--username=" + user, "--encoding=UTF8", "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=" + auth}
	if password != "" {
		// A file only the instance's user can read, in its own socket
		// directory, gone once initdb is done.
		pw := filepath.Join(s.pgSocket, ".pwfile")
		if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
			return err
		}
		defer os.Remove(pw)
		if err := os.Chown(pw, s.user.id, s.user.id); err != nil {
			return err
		}
		args = append(args, "--pwfile="+pgSocketDir+"/.pwfile")
	}
	args = append(args, strings.Fields(env["POSTGRES_INITDB_ARGS"])...)
	if err := run(nil, stdout, args...); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	conf := fmt.Sprintf("\n# added by tandem, as the postgres image does\nlisten_addresses = '*'\nunix_socket_directories = '%s'\n", pgSocketDir)
	hba := fmt.Sprintf("\n# added by tandem, as the postgres image does\nhost all all all %s\n", auth)
	if err := appendFile(filepath.Join(host, "postgresql.conf"), conf); err != nil {
		return err
	}
	if err := appendFile(filepath.Join(host, "pg_hba.conf"), hba); err != nil {
		return err
	}
	if db != "postgres" {
		// Single-user mode needs no running server and no socket.
		stmt := fmt.Sprintf("CREATE DATABASE \"%s\"\n", strings.ReplaceAll(db, `"`, `""`))
		if err := run(strings.NewReader(stmt), io.Discard,
			filepath.Join(bins.dir, "postgres"), "--single", "-D", pgdata, "postgres"); err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	fmt.Fprintf(stdout, "tandem: PostgreSQL %s initialised (user %s, database %s)\n", bins.version, user, db)
	return nil
}

func appendFile(name, text string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
