package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/fsutil"
)

// isPostgres reports whether svc runs a postgres image as it is: the real
// server, whose data directory the runtime snapshots and restores.
func isPostgres(svc *tandem.Service) bool {
	if svc.DockerBuild != nil || svc.Image == "" {
		return false
	}
	name, _, _ := strings.Cut(svc.Image, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return strings.TrimPrefix(strings.TrimPrefix(name, "docker.io/"), "library/") == "postgres"
}

// pgdata is where the server keeps its data in the container: PGDATA of
// the service, else of the image, else the official image's default.
func pgdata(svc *tandem.Service, img client.ImageInspectResult) string {
	if v := svc.Environment["PGDATA"]; v != "" {
		return path.Clean(v)
	}
	if img.Config != nil {
		for _, kv := range img.Config.Env {
			if v, ok := strings.CutPrefix(kv, "PGDATA="); ok && v != "" {
				return path.Clean(v)
			}
		}
	}
	return "/var/lib/postgresql/data"
}

// pgDataHost is where svc's data directory is on the host.
func (s *Sandbox) pgDataHost(ctx context.Context, svc *tandem.Service) (string, error) {
	img, err := s.cli.ImageInspect(ctx, svc.Image)
	if err != nil {
		return "", fmt.Errorf("docker: image %s: %w", svc.Image, err)
	}
	ms, err := s.volumes(svc, img)
	if err != nil {
		return "", err
	}
	target := pgdata(svc, img)
	host, ok := hostPath(ms, target)
	if !ok {
		return "", fmt.Errorf("service %s: %s is in no volume", svc.Name, target)
	}
	return host, nil
}

// restore gives a postgres service whose data is not initialised yet a copy
// of the snapshot SandboxSpec.Restore names for it, owners kept: the
// image's entrypoint, as root, gives it to its own user.
func (s *Sandbox) restore(ctx context.Context, svc *tandem.Service, out io.Writer) error {
	id := s.spec.Restore[svc.Name]
	if id == "" {
		return nil
	}
	src, err := s.rt.snapshotPath(id)
	if err != nil {
		return err
	}
	if !isFile(filepath.Join(src, "PG_VERSION")) {
		return tandem.Errorf(tandem.ENOTFOUND, "snapshot %s is gone", id)
	}
	dst, err := s.pgDataHost(ctx, svc)
	if err != nil {
		return err
	}
	if isFile(filepath.Join(dst, "PG_VERSION")) {
		return nil
	}
	fmt.Fprintf(out, "tandem: %s starts from snapshot %s\n", svc.Name, id)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := fsutil.CopyTree(src, dst, fsutil.Options{}); err != nil {
		os.RemoveAll(dst)
		return err
	}
	return nil
}

// Snapshot copies the data of a postgres service that is not running into
// the runtime's SnapshotDir.
func (s *Sandbox) Snapshot(ctx context.Context, svc *tandem.Service) (string, error) {
	if !isPostgres(svc) {
		return "", tandem.Errorf(tandem.EUNSUPPORTED, "service %s: only postgres images can be snapshotted", svc.Name)
	}
	if s.running(svc.Name) != nil {
		return "", tandem.Errorf(tandem.ECONFLICT, "service %s: its server is running: stop it before taking a snapshot", svc.Name)
	}
	src, err := s.pgDataHost(ctx, svc)
	if err != nil {
		return "", err
	}
	if isFile(filepath.Join(src, "postmaster.pid")) {
		return "", tandem.Errorf(tandem.ECONFLICT, "service %s: its server did not stop cleanly: start and stop it before taking a snapshot", svc.Name)
	}
	if !isFile(filepath.Join(src, "PG_VERSION")) {
		return "", tandem.Errorf(tandem.ENOTFOUND, "service %s has no data to snapshot", svc.Name)
	}
	id, dst, err := s.rt.newSnapshot()
	if err != nil {
		return "", err
	}
	if err := fsutil.CopyTree(src, dst, fsutil.Options{}); err != nil {
		os.RemoveAll(dst)
		return "", err
	}
	return id, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// snapshotID is what Snapshot returns: a name of its own making, so an id
// read back from a file can never lead outside SnapshotDir.
var snapshotID = regexp.MustCompile(`^dk-[0-9a-f]{32}$`)

func (r *Runtime) snapshotDir() string {
	if r.SnapshotDir != "" {
		return r.SnapshotDir
	}
	return DefaultSnapshotDir
}

// snapshotPath is where snapshot id is kept.
func (r *Runtime) snapshotPath(id string) (string, error) {
	if !snapshotID.MatchString(id) {
		return "", tandem.Errorf(tandem.EINVALID, "%q is not a snapshot of the docker runtime", id)
	}
	return filepath.Join(r.snapshotDir(), id), nil
}

// newSnapshot returns a fresh id and the directory (not yet made) for it,
// in a directory nobody else may read: snapshots hold databases.
func (r *Runtime) newSnapshot() (string, string, error) {
	if err := os.MkdirAll(r.snapshotDir(), 0o700); err != nil {
		return "", "", err
	}
	if err := os.Chmod(r.snapshotDir(), 0o700); err != nil {
		return "", "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := "dk-" + hex.EncodeToString(b)
	return id, filepath.Join(r.snapshotDir(), id), nil
}
