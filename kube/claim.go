package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/tail"
)

// With Runtime.Storage StorageClaim, a postgres service keeps its data on a
// PersistentVolumeClaim, which any node may mount: tandem no longer needs
// to run on the node. Its snapshots are then gzipped tar archives of the
// data directory as the stopped server left it, kept in tandem's snapshot
// store: the whole server, its roles and every database, as the node
// storage's copies are. They are taken and restored through a maintenance
// pod (the service's image and claim, running nothing but a shell that
// waits) by the image's own tar and gzip: no server starts, and a restored
// claim is never initialised first, its server starting on the snapshot's
// files.

// dataArchive is the archive in a claim snapshot's directory: compressed
// in the pod, so an eighth of the bytes cross the network and are kept (a
// seeded data directory is mostly table files and WAL, which compress
// well).
const dataArchive = "pgdata.tar.gz"

// piped is a shell script running `a | b` that fails when either fails:
// sh has no pipefail on Debian (dash), so a's status comes out on fd 3.
func piped(a, b string) string {
	return `exec 4>&1; s=$( { { ` + a + `; echo $? >&3; } | ` + b + ` >&4; } 3>&1 ) || exit; exit "${s:-1}"`
}

// hold is the maintenance pod's command: wait, and end at once when the
// pod is deleted.
const hold = `trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done`

// Before the archives, a claim snapshot was a pg_dump archive of
// POSTGRES_DB alone (dumpFile), restored by pg_restore into a server the
// image's entrypoint initialised first, on dataPort; such snapshots are
// still restored that way.

// dataPort is that server's port: not 5432, where the image's entrypoint
// runs the server it initialises the database with, so that being ready on
// dataPort means the real server is.
const dataPort = "5433"

// dumpFile is the archive in a pg_dump claim snapshot's directory.
const dumpFile = "postgres.dump"

// annotationData on a claim says what its data came from: a snapshot it was
// restored from, or the service's own first start. A claim without it is
// new, and only a new claim is restored into.
const annotationData = "dev.tandem/data"

// restoreClaim applies svc's claim and, when the claim is new and id names
// a snapshot, restores the snapshot into it before the service starts.
func (s *Sandbox) restoreClaim(ctx context.Context, svc *tandem.Service, id string) (bool, error) {
	claims := s.cs.Core.PersistentVolumeClaims(s.ns)
	c, err := claims.Apply(ctx, s.claim(svc), applyOptions)
	if err != nil {
		return false, errorf("service %s: its data's claim: %w", svc.Name, err)
	}
	if c.Annotations[annotationData] != "" {
		return false, nil
	}
	mark := func(what string) error {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotationData: what}}})
		_, err := claims.Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
		return err
	}
	if id == "" {
		return false, mark("its own")
	}
	dir, err := s.rt.snapshots().Path(id)
	if err != nil {
		return false, err
	}
	restore := s.restoreArchive
	if _, err := os.Stat(filepath.Join(dir, dataArchive)); err != nil {
		restore = s.restoreDump
	}
	if err := restore(ctx, svc, id, dir); err != nil {
		return false, err
	}
	return true, mark("snapshot " + id)
}

// restoreArchive unpacks an archive claim snapshot into svc's claim.
func (s *Sandbox) restoreArchive(ctx context.Context, svc *tandem.Service, id, dir string) error {
	f, err := os.Open(filepath.Join(dir, dataArchive))
	if err != nil {
		return tandem.Errorf(tandem.ENOTFOUND, "snapshot %s is gone (%v)", id, err)
	}
	defer f.Close()
	// Emptied first: a restore a crash interrupted is done again whole.
	// The path is an argument, never part of the script.
	untar := []string{"sh", "-c", `find "$1" -mindepth 1 -delete || exit; ` + piped(`gzip -dc`, `tar -xf - -C "$1"`), "sh", pgdata(svc)}
	return s.withData(ctx, svc, nil, func(pod string) error {
		var out tail.Writer
		if err := s.execIn(ctx, pod, untar, f, &out, &out); err != nil {
			return errorf("service %s: restoring snapshot %s: %v: %s", svc.Name, id, err, out.Lines(10))
		}
		return nil
	})
}

// restoreDump restores a pg_dump claim snapshot.
func (s *Sandbox) restoreDump(ctx context.Context, svc *tandem.Service, id, dir string) error {
	f, err := os.Open(filepath.Join(dir, dumpFile))
	if err != nil {
		return tandem.Errorf(tandem.ENOTFOUND, "snapshot %s is gone (%v)", id, err)
	}
	defer f.Close()
	// --clean: a restore a crash interrupted is done again whole.
	restore := `exec pg_restore --clean --if-exists --no-owner --exit-on-error -p ` + dataPort +
		` -U "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"`
	return s.withData(ctx, svc, []string{"postgres", "-c", "listen_addresses=", "-p", dataPort}, func(pod string) error {
		var out tail.Writer
		if err := s.execIn(ctx, pod, []string{"sh", "-c", restore}, f, &out, &out); err != nil {
			return errorf("service %s: pg_restore of snapshot %s: %v: %s", svc.Name, id, err, out.Lines(10))
		}
		return nil
	})
}

// snapshotClaim keeps an archive of svc's data directory.
func (s *Sandbox) snapshotClaim(ctx context.Context, svc *tandem.Service) (id string, err error) {
	// A maintenance pod for a claim that does not exist could never be
	// scheduled: say so now, as the node storage does of a missing
	// directory, rather than wait for ctx to end.
	if _, err := s.cs.Core.PersistentVolumeClaims(s.ns).Get(ctx, claimName(svc), metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return "", tandem.Errorf(tandem.ENOTFOUND, "service %s has no data to snapshot: its claim %s was never made", svc.Name, claimName(svc))
	} else if err != nil {
		return "", errorf("service %s: its data's claim: %w", svc.Name, err)
	}
	store := s.rt.snapshots()
	id, dir, err := store.New()
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	f, err := os.OpenFile(filepath.Join(dir, dataArchive), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := s.applyService(ctx, svc); err != nil {
		return "", err
	}
	err = s.withData(ctx, svc, nil, func(pod string) error {
		var stderr tail.Writer
		archive := []string{"sh", "-c", piped(`tar -cf - -C "$1" .`, `gzip -1`), "sh", pgdata(svc)}
		if err := s.execIn(ctx, pod, archive, nil, f, &stderr); err != nil {
			return errorf("service %s: archiving its data: %v: %s", svc.Name, err, stderr.Lines(10))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return id, f.Close()
}

// withData runs fn while svc's maintenance pod holds its claim, and
// removes the pod after, waiting until it is gone: the service's own pod
// may not start a second server on the same data. With server nil the pod
// runs no server (hold); otherwise the image's entrypoint runs server, a
// server on dataPort, and fn runs once it is ready. svc's Secret and claim
// are applied already.
func (s *Sandbox) withData(ctx context.Context, svc *tandem.Service, server []string, fn func(pod string) error) (err error) {
	name := svc.Name + "-data-" + suffix()
	pod := s.pod(name, svc, "data", server)
	if _, err := s.cs.Core.Pods(s.ns).Apply(ctx, pod, applyOptions); err != nil {
		return errorf("service %s: its maintenance pod: %w", svc.Name, err)
	}
	grace := svc.StopGrace
	if server == nil {
		grace = time.Second // hold ends at once
	}
	defer func() {
		s.deletePod(name, grace)
		gone, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if e := s.awaitGone(gone, name); e != nil && err == nil {
			err = errorf("service %s: its maintenance pod %s did not stop: %w", svc.Name, name, e)
		}
	}()
	if err := s.awaitStart(ctx, name, svc); err != nil {
		return err
	}
	for deadline := time.Now().Add(2 * time.Minute); server != nil; {
		if s.execIn(ctx, name, []string{"pg_isready", "-q", "-p", dataPort}, nil, io.Discard, io.Discard) == nil {
			break
		}
		if p, _ := s.podState(name); p != nil {
			if t, ok := ended(p); ok {
				return errorf("service %s: its database server ended (%v) before it was ready: %s", svc.Name, exitError(t), s.tail(name))
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errorf("service %s: its database server was not ready within 2 minutes: %s", svc.Name, s.tail(name))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p, _ := s.podState(name); p != nil {
		if t, ok := ended(p); ok {
			return errorf("service %s: its maintenance pod ended (%v): %s", svc.Name, exitError(t), s.tail(name))
		}
	}
	return fn(name)
}

// tail is the last lines pod wrote, for an error.
func (s *Sandbox) tail(pod string) string {
	n := int64(10)
	b, err := s.cs.Core.Pods(s.ns).GetLogs(pod, &corev1.PodLogOptions{Container: "main", TailLines: &n}).DoRaw(context.Background())
	if err != nil {
		return fmt.Sprintf("(its output: %v)", err)
	}
	return strings.TrimSpace(string(b))
}
