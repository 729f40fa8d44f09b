package kube

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tandem-dev/tandem"
)

// BenchmarkSnapshot times a seeded database's snapshot, and a new
// instance's database started from it until it answers, with the data on
// the node (file copies) and on claims (an archive of the data directory):
//
//	TANDEM_KUBECONFIG=… go test -run '^$' -bench Snapshot -benchtime 1x ./kube/
func BenchmarkSnapshot(b *testing.B) {
	kc := os.Getenv("TANDEM_KUBECONFIG")
	if kc == "" {
		b.Skip("no cluster: TANDEM_KUBECONFIG is not set")
	}
	for _, storage := range []string{StorageNode, StorageClaim} {
		b.Run(storage, func(b *testing.B) {
			r := &Runtime{Kubeconfig: kc, SnapshotDir: b.TempDir(), PullPolicy: corev1.PullNever, Storage: storage, StorageClass: testClass}
			if storage == StorageClaim {
				provision(b, r)
			}
			db := testPostgres()
			ctx := context.Background()
			psql := func(sb tandem.Sandbox, sql string) (string, error) { return psqlIn(sb, db, sql) }
			up := func(sb tandem.Sandbox) tandem.Process { return startPostgres(b, sb, db) }
			var snap, restore time.Duration
			var size int64
			for range b.N {
				seeded := dbSandbox(b, r, "bench-seed-"+storage, nil)
				p := up(seeded)
				// About 20 MB of rows, a seeded demo database's size.
				if out, err := psql(seeded, "create table article (id int primary key, title text, body text); insert into article select i, 'title '||i, repeat('body ', 30) from generate_series(1, 100000) i"); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				p.Stop(ctx, time.Minute)
				began := time.Now()
				id, err := seeded.Snapshot(ctx, db)
				if err != nil {
					b.Fatal(err)
				}
				snap += time.Since(began)
				size += snapshotSize(b, r, id)
				restored := dbSandbox(b, r, "bench-restore-"+storage, map[string]string{"db": id})
				began = time.Now()
				up(restored)
				restore += time.Since(began)
				if got, err := psql(restored, "select count(*) from article"); err != nil || got != "100000" {
					b.Fatalf("restored rows: %q %v", got, err)
				}
			}
			b.ReportMetric(snap.Seconds()/float64(b.N), "snapshot-s")
			b.ReportMetric(restore.Seconds()/float64(b.N), "restore-to-answer-s")
			b.ReportMetric(float64(size)/float64(b.N)/(1<<20), "snapshot-MiB")
		})
	}
}

// snapshotSize is the bytes of the files snapshot id keeps.
func snapshotSize(b *testing.B, r *Runtime, id string) int64 {
	dir, err := r.snapshots().Path(id)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
