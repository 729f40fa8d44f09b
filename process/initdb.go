//go:build linux

package process

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/tandem-dev/tandem"
)

// initdbDir is where the postgres image looks for its first-start scripts.
const initdbDir = "/docker-entrypoint-initdb.d"

// initdbScript runs the scripts as the image's docker-entrypoint.sh does:
// a temporary server on the socket only, each file by its kind, then a
// clean stop. It is given the scripts' paths, in order, as arguments.
//
//go:embed initdb.sh
var initdbScript string

// initScript is one file of /docker-entrypoint-initdb.d.
type initScript struct {
	Name string // as sorted: "01-schema.sql"
	Host string // where tandem reads it
}

// initScripts lists the top-level files the service's mounts put in
// /docker-entrypoint-initdb.d, sorted by name as the image's shell glob
// sorts them (in the C locale).
func (s *Sandbox) initScripts(svc *tandem.Service) ([]initScript, error) {
	byName := map[string]string{}
	for _, m := range svc.Mounts {
		target := path.Clean(m.Target)
		src := m.Source
		if m.Type == "volume" {
			src = filepath.Join(s.spec.DataDir, "volumes", m.Source)
		}
		switch {
		case target == initdbDir:
			entries, err := os.ReadDir(src)
			if err != nil {
				if m.Type == "volume" && errors.Is(err, os.ErrNotExist) {
					continue // an empty named volume
				}
				return nil, fmt.Errorf("service %s: %s: %w", svc.Name, initdbDir, err)
			}
			for _, e := range entries {
				byName[e.Name()] = filepath.Join(src, e.Name())
			}
		case path.Dir(target) == initdbDir:
			byName[path.Base(target)] = src
		}
	}
	var out []initScript
	for name, host := range byName {
		out = append(out, initScript{Name: name, Host: host})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// runInitScripts runs the scripts against the fresh data directory, as
// POSTGRES_USER in POSTGRES_DB, with the image's variables. cfg is the
// server's own configuration (account, mounts, PGDATA).
func (s *Sandbox) runInitScripts(ctx context.Context, bins *postgresBins, cfg shimConfig, p *plan, scripts []initScript, env map[string]string, stdout, stderr io.Writer) error {
	c := cfg
	args := []string{"/bin/bash", "-c", initdbScript, "tandem-initdb"}
	for _, sc := range scripts {
		args = append(args, initdbDir+"/"+sc.Name)
	}
	c.Argv = args
	c.Dir = "/"
	user := env["POSTGRES_USER"]
	if user == "" {
		user = "postgres"
	}
	db := env["POSTGRES_DB"]
	if db == "" {
		db = user
	}
	pw := env["PGPASSWORD"]
	if pw == "" {
		pw = env["POSTGRES_PASSWORD"]
	}
	c.Env = mergeEnv(cfg.Env, "PATH="+bins.dir+":/usr/local/bin:/usr/bin:/bin",
		"POSTGRES_USER="+user, "POSTGRES_DB="+db, "PGPASSWORD="+pw, "PGUSER="+user, "LC_ALL=C.UTF-8")
	w := &lineTail{max: 12}
	err := s.run(ctx, c, p, nil, io.MultiWriter(stdout, w), io.MultiWriter(stderr, w))
	if err == nil {
		return nil
	}
	failed := "a script"
	if name := w.lastMarker(); name != "" {
		failed = name
	}
	return tandem.Errorf(tandem.EINVALID, "%s in %s failed (%w); its last lines:\n%s", failed, initdbDir, err, strings.Join(w.lines(), "\n"))
}

// lineTail keeps the last lines written to it, and the last script the
// init script said it runs. Output and errors write to it at once.
type lineTail struct {
	mu     sync.Mutex
	max    int
	buf    []byte
	tail   []string
	marker string
}

// initdbMarker starts the line the init script prints before each step:
// a script's path, or what it does besides.
const initdbMarker = "tandem: initdb.d: "

func (t *lineTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		t.add(string(t.buf[:i]))
		t.buf = t.buf[i+1:]
	}
	return len(p), nil
}

func (t *lineTail) add(l string) {
	if name, ok := strings.CutPrefix(l, initdbMarker); ok {
		if strings.HasPrefix(name, "/") {
			name = path.Base(name)
		}
		t.marker = name
		return
	}
	t.tail = append(t.tail, l)
	if len(t.tail) > t.max {
		t.tail = t.tail[1:]
	}
}

func (t *lineTail) lastMarker() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.marker
}

func (t *lineTail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.tail...)
	if len(t.buf) > 0 {
		out = append(out, string(t.buf))
	}
	for i, l := range out {
		out[i] = "  " + l
	}
	return out
}
