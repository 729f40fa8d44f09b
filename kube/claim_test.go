package kube

import (
	"bytes"
	"context"
	"io"
	"os"
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
	for path, want := range map[string]os.FileMode{snap: 0o700 | os.ModeDir, snap + "/" + dumpFile: 0o600, r.SnapshotDir: 0o700 | os.ModeDir} {
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
