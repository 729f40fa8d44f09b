package docker

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/snapshots"
)

// isPostgres reports whether svc runs a postgres image as it is: the real
// server, whose data directory the runtime snapshots and restores.
func isPostgres(svc *tandem.Service) bool {
	if svc.DockerBuild != nil || svc.Image == "" {
		return false
	}
	return tandem.IsPostgresImage(svc.Image)
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
	if _, err := s.rt.snapshots().Path(id); err != nil {
		return err
	}
	dst, err := s.pgDataHost(ctx, svc)
	if err != nil {
		return err
	}
	copied, err := s.rt.snapshots().RestorePostgres(id, dst)
	if copied {
		fmt.Fprintf(out, "tandem: %s starts from snapshot %s\n", svc.Name, id)
	}
	return err
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
	return s.rt.snapshots().TakePostgres(svc.Name, src)
}

func (r *Runtime) snapshots() snapshots.Store {
	return snapshots.Store{Dir: r.SnapshotDir, Prefix: "dk", Runtime: "docker"}
}
