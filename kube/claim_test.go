package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tandem-dev/tandem"
)

// With claims the data is not in the data directory, yet it lives as long
// as that directory does: Close (a stop, a sleep, a server's shutdown) keeps
// the namespace and its claim, the next sandbox of the directory starts on
// the same data, and once the directory is removed (destroy) the next
// sandbox made on this machine removes the namespace.
func TestClaimsLiveAsLongAsTheDataDirectory(t *testing.T) {
	r := cluster(t)
	r.Storage, r.StorageClass = StorageClaim, testClass
	provision(t, r)
	cs, err := r.client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db := testPostgres()
	dir := t.TempDir()
	spec := tandem.SandboxSpec{Name: "claim-life", Services: []string{"db"}, DataDir: dir}
	psql := func(sb tandem.Sandbox, sql string) (string, error) { return psqlIn(sb, db, sql) }
	var p tandem.Process
	up := func() tandem.Sandbox {
		sb, err := r.NewSandbox(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		p = startPostgres(t, sb, db)
		return sb
	}

	sb := up()
	ns := sb.(*Sandbox).ns
	if out, err := psql(sb, "create table kept (v text); insert into kept values ('before close')"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The dump holds the rows: it is the owner's alone to read.
	if err := p.Stop(ctx, time.Minute); err != nil {
		t.Logf("stop: %v", err)
	}
	id, err := sb.Snapshot(ctx, db)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer r.RemoveSnapshot(ctx, id)
	snap, err := r.snapshots().Path(id)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{snap: 0o700 | os.ModeDir, snap + "/" + dataArchive: 0o600, r.SnapshotDir: 0o700 | os.ModeDir} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want || fi.Mode().IsRegular() && fi.Size() == 0 {
			t.Errorf("%s: %v %v, want %v and not empty", path, fi.Mode(), err, want)
		}
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Core.PersistentVolumeClaims(ns).Get(ctx, claimName(db), metav1.GetOptions{}); err != nil {
		t.Fatalf("the claim after Close: %v", err)
	}
	sb = up()
	if got, err := psql(sb, "select v from kept"); err != nil || got != "before close" {
		t.Errorf("after Close and a new sandbox: %q %v, want the row written before", got, err)
	}
	sb.Close()

	os.RemoveAll(dir)
	other, err := r.NewSandbox(ctx, tandem.SandboxSpec{Name: "claim-other", Services: []string{"db"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		n, err := cs.Core.Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && n.DeletionTimestamp != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the namespace of a removed data directory is still there: %v", err)
		}
	}
}

// testPostgres is the database of the tests that use one.
func testPostgres() *tandem.Service {
	return &tandem.Service{Name: "db", Image: "postgres:16", StopSignal: "SIGINT", StopGrace: 30 * time.Second, Environment: map[string]string{
		"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop", "POSTGRES_INITDB_ARGS": "--no-sync"}}
}

// dbSandbox is a new sandbox for the database of the tests, restoring the
// snapshots restore names; closed when tb ends.
func dbSandbox(tb testing.TB, r *Runtime, name string, restore map[string]string) tandem.Sandbox {
	sb, err := r.NewSandbox(context.Background(), tandem.SandboxSpec{Name: name, Services: []string{"db"}, DataDir: tb.TempDir(), Restore: restore})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sb.Close() })
	return sb
}

// psqlIn runs sql in db's database, in sb.
func psqlIn(sb tandem.Sandbox, db *tandem.Service, sql string) (string, error) {
	var out bytes.Buffer
	err := sb.Exec(context.Background(), db, []string{"psql", "-h", "127.0.0.1", "-U", "app", "-d", "shop", "-v", "ON_ERROR_STOP=1", "-tAc", sql}, &out, &out)
	return strings.TrimSpace(out.String()), err
}

// startPostgres starts db in sb and waits until it answers.
func startPostgres(tb testing.TB, sb tandem.Sandbox, db *tandem.Service) tandem.Process {
	tb.Helper()
	p, err := sb.Start(context.Background(), db, io.Discard, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, err := psqlIn(sb, db, "select 1"); err == nil {
			return p
		} else if time.Now().After(deadline) {
			tb.Fatalf("postgres did not answer: %v", err)
		}
	}
}

// A preview's destroy removes its data directory, then asks the runtime to
// remove what it keeps elsewhere: the namespace, with its claims, goes at
// once; another instance's stays.
func TestRemoveDataRemovesTheClaimsAtOnce(t *testing.T) {
	r := cluster(t)
	r.Storage, r.StorageClass = StorageClaim, testClass
	cs, err := r.client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root := t.TempDir()
	made := map[string]string{}
	for _, name := range []string{"gone", "kept"} {
		dir := root + "/previews/" + name + "/1/data"
		if err := os.MkdirAll(dir, 0o700); err != nil { // or the next sandbox's sweep would take it
			t.Fatal(err)
		}
		sb, err := r.NewSandbox(ctx, tandem.SandboxSpec{Name: "remove-" + name, Services: []string{"db"}, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		made[name] = sb.(*Sandbox).ns
		if err := sb.Close(); err != nil {
			t.Fatal(err)
		}
	}
	defer cs.Core.Namespaces().Delete(ctx, made["kept"], metav1.DeleteOptions{})
	if err := r.RemoveData(ctx, root+"/previews/gone"); err != nil {
		t.Fatal(err)
	}
	for name, ns := range made {
		n, err := cs.Core.Namespaces().Get(ctx, ns, metav1.GetOptions{})
		gone := apierrors.IsNotFound(err) || err == nil && n.DeletionTimestamp != nil
		if gone != (name == "gone") {
			t.Errorf("namespace of %s: removed %v (%v)", name, gone, err)
		}
	}
}

// A claim snapshot taken before the archives (a pg_dump of POSTGRES_DB) is
// still restored, by pg_restore.
func TestDumpSnapshotsAreStillRestored(t *testing.T) {
	r := cluster(t)
	r.Storage, r.StorageClass = StorageClaim, testClass
	provision(t, r)
	ctx := context.Background()
	db := testPostgres()
	seeded := dbSandbox(t, r, "dump-seed", nil)
	startPostgres(t, seeded, db)
	if out, err := psqlIn(seeded, db, "create table article (title text); insert into article values ('dumped')"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	id, dir, err := r.snapshots().New()
	if err != nil {
		t.Fatal(err)
	}
	defer r.RemoveSnapshot(ctx, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dir + "/" + dumpFile)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if err := seeded.Exec(ctx, db, []string{"pg_dump", "-Fc", "-h", "127.0.0.1", "-U", "app", "shop"}, f, &stderr); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.String())
	}
	f.Close()

	restored := dbSandbox(t, r, "dump-restore", map[string]string{"db": id})
	startPostgres(t, restored, db)
	if got, err := psqlIn(restored, db, "select title from article"); err != nil || got != "dumped" {
		t.Errorf("restored from a pg_dump snapshot: %q %v", got, err)
	}
}

// A claim snapshot's pipelines fail when either side does: a tar that
// cannot read the data directory is no snapshot, though gzip ends well.
func TestPipedFailsWhenEitherSideFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/PG_VERSION", []byte("16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(script string, args ...string) ([]byte, error) {
		var stderr bytes.Buffer
		cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, stderr.String())
		}
		return out, err
	}
	archive := piped(`tar -cf - -C "$1" .`, `gzip -1`)
	gz, err := run(archive, dir)
	if err != nil {
		t.Fatalf("archive: %v", err)
	}
	if _, err := run(archive, dir+"/missing"); err == nil {
		t.Error("an archive of a directory tar cannot read succeeded")
	}
	if _, err := run(piped(`tar -cf - -C "$1" .`, `false`), dir); err == nil {
		t.Error("a pipeline whose second command failed succeeded")
	}
	into := t.TempDir()
	cmd := exec.Command("sh", "-c", piped(`gzip -dc`, `tar -xf - -C "$1"`), "sh", into)
	cmd.Stdin = bytes.NewReader(gz)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unpack: %v: %s", err, out)
	}
	if b, err := os.ReadFile(into + "/PG_VERSION"); err != nil || string(b) != "16\n" {
		t.Errorf("unpacked: %q %v", b, err)
	}
	cmd = exec.Command("sh", "-c", piped(`gzip -dc`, `tar -xf - -C "$1"`), "sh", t.TempDir())
	cmd.Stdin = bytes.NewReader(gz[:len(gz)-8]) // the CRC cut off: tar has everything
	if err := cmd.Run(); err == nil {
		t.Error("a damaged archive was unpacked without an error")
	}
}
