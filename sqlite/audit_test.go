package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/audit/audittest"
)

// The SQLite store passes the suite every audit store must pass.
func TestAuditStore(t *testing.T) {
	audittest.TestStore(t, func(t *testing.T) tandem.AuditStore { return openTest(t) })
}

// Entries and hashes cannot be changed or deleted, even with SQL.
func TestAuditStoreIsAppendOnly(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	err := db.AppendAudit(ctx, []tandem.AuditRecord{{Index: 0, Repo: "shop", Preview: "pr-1", Kind: tandem.AuditFirstVisit, Time: time.Now(), Envelope: []byte("{}")}},
		[]tandem.AuditHash{{Index: 0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"UPDATE audit_entries SET envelope = x'00'",
		"DELETE FROM audit_entries",
		"UPDATE audit_hashes SET hash = x'00'",
		"DELETE FROM audit_hashes",
		"INSERT OR REPLACE INTO audit_entries (idx, repo, preview, kind, time, envelope) VALUES (0, 'shop', 'pr-1', 'x', 't', x'00')",
		"REPLACE INTO audit_hashes (id, hash) VALUES (0, x'00')",
	} {
		if _, err := db.write.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") && !strings.Contains(err.Error(), "constraint") {
			t.Errorf("%s: %v, want a refusal", q, err)
		}
	}
	recs, _ := db.AuditRecords(ctx, tandem.AuditFilter{})
	if len(recs) != 1 || string(recs[0].Envelope) != "{}" {
		t.Errorf("entries after the attempts: %+v", recs)
	}
}

// A state database made before the audit log gets its tables, and keeps
// its previews.
func TestAuditMigratesAnOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	// A file of the first schema, written as the store of then did:
	// today's store writes more columns, so the row goes in by hand.
	old, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(context.Background(), old, migrations[:1]); err != nil {
		t.Fatal(err)
	}
	args, _ := previewArgs(fullPreview("pr-7"))
	n := 23
	if _, err := old.Exec("INSERT INTO previews ("+strings.Join(previewColumns[:n], ", ")+") VALUES (?"+strings.Repeat(", ?", n-1)+")", args[:n]...); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.AuditSize(context.Background()); n != 0 || err != nil {
		t.Errorf("audit size %d, %v", n, err)
	}
	if _, err := db.Preview(context.Background(), "pr-7"); err != nil {
		t.Error(err)
	}
}

// auditLog is the audit log over a state database in a new data directory.
func auditLog(t testing.TB, data string) (*audit.Log, *DB) {
	t.Helper()
	key, err := audit.EnsureKey(data, "previews.example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(filepath.Join(data, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := audit.Open(context.Background(), db, key)
	if err != nil {
		t.Fatal(err)
	}
	return l, db
}

func visit(i int) tandem.AuditEvent {
	return tandem.AuditEvent{Kind: tandem.AuditFirstVisit, Repo: "shop", Preview: fmt.Sprintf("pr-%d", i%50), Generation: 1,
		Binding: tandem.Binding{Repo: "shop", Commit: strings.Repeat("a1", 20), StackDigest: "sha256:" + strings.Repeat("5", 64)},
		Actor:   fmt.Sprintf("reviewer%d@example.com", i)}
}

// The log over SQLite: appends from many goroutines, and from a second
// process's handle on the same file, all land once, survive reopening,
// and export to a bundle that verifies.
func TestAuditLogOverSQLite(t *testing.T) {
	data := t.TempDir()
	l, _ := auditLog(t, data)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 20 {
				if _, err := l.Append(ctx, visit(w*100+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	// Another handle on the file, as tandem audit tools have beside serve.
	other, _ := auditLog(t, data)
	wg.Go(func() {
		if _, err := other.AppendAll(ctx, []tandem.AuditEvent{visit(1000), visit(1001)}); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if _, err := l.Append(ctx, visit(2000)); err != nil { // finds the other's entries, and appends after them
		t.Fatal(err)
	}

	reopened, db := auditLog(t, data)
	if n, _ := db.AuditSize(ctx); n != 123 {
		t.Fatalf("%d entries after reopening, want 123", n)
	}
	out := filepath.Join(t.TempDir(), "all.tar.gz")
	if _, warnings, err := reopened.Export(ctx, out, audit.ExportOptions{Evidence: audit.EvidenceDirIn(data)}); err != nil || len(warnings) > 0 {
		t.Fatal(err, warnings)
	}
	pub, _ := os.ReadFile(filepath.Join(data, audit.PublicKeyFile))
	v, err := audit.Verify(out, audit.VerifyOptions{Key: pub})
	if err != nil || len(v.Entries) != 123 {
		t.Fatalf("verify: %v", err)
	}
}

// Benchmarks of the log over SQLite (docs/benchmarks.md):
//
//	go test -run '^$' -bench 'Audit(Append|Proof|Consistency)' -benchtime 2000x ./sqlite/
//	go test -run '^$' -bench AuditExportVerify -benchtime 3x ./sqlite/
//
// The 100,000-entry log is built once per run, in groups of 1,000.

var bigLog struct {
	once sync.Once
	log  *audit.Log
	cp   []byte
	err  error
}

func hundredThousand(b *testing.B) *audit.Log {
	bigLog.once.Do(func() {
		dir, err := os.MkdirTemp("", "audit-bench-")
		if err != nil {
			bigLog.err = err
			return
		}
		key, _ := audit.EnsureKey(dir, "previews.example.com/audit")
		db, err := Open(filepath.Join(dir, "tandem.db"))
		if err != nil {
			bigLog.err = err
			return
		}
		// The benchmark binary exits without closing it; the directory goes
		// with the machine's temporary files.
		os.RemoveAll(dir) // unlinked now: SQLite keeps its open files
		if bigLog.log, bigLog.err = audit.Open(context.Background(), db, key); bigLog.err != nil {
			return
		}
		began := time.Now()
		defer func() {
			b.Logf("100,000 entries appended in groups of 1,000 in %s", time.Since(began).Round(time.Millisecond))
		}()
		for start := 0; start < 100_000; start += 1000 {
			events := make([]tandem.AuditEvent, 1000)
			for i := range events {
				events[i] = visit(start + i)
			}
			if _, bigLog.err = bigLog.log.AppendAll(context.Background(), events); bigLog.err != nil {
				return
			}
		}
		bigLog.cp, bigLog.err = bigLog.log.Checkpoint(context.Background())
	})
	if bigLog.err != nil {
		b.Fatal(bigLog.err)
	}
	return bigLog.log
}

// One append at a time, each its own durable transaction.
func BenchmarkAuditAppend(b *testing.B) {
	l, _ := auditLog(b, b.TempDir())
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.Append(context.Background(), visit(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// 16 goroutines appending: those that queue behind a commit share the next.
func BenchmarkAuditAppendParallel(b *testing.B) {
	l, _ := auditLog(b, b.TempDir())
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(context.Background(), visit(rand.IntN(1000))); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// Appending to a log of 100,000 entries.
func BenchmarkAuditAppendAt100k(b *testing.B) {
	l := hundredThousand(b)
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.Append(context.Background(), visit(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// The inclusion proof of a random entry among 100,000, as a tlog-proof.
func BenchmarkAuditProofAt100k(b *testing.B) {
	l := hundredThousand(b)
	b.ResetTimer()
	for range b.N {
		if _, err := l.Proof(context.Background(), rand.Int64N(100_000), bigLog.cp); err != nil {
			b.Fatal(err)
		}
	}
}

// A consistency proof from a random earlier size to 100,000.
func BenchmarkAuditConsistencyProofAt100k(b *testing.B) {
	l := hundredThousand(b)
	b.ResetTimer()
	for range b.N {
		if _, err := l.ConsistencyProof(context.Background(), 1+rand.Int64N(99_999), bigLog.cp); err != nil {
			b.Fatal(err)
		}
	}
}

// Exporting one preview's entries (2,000 of the 100,000) and verifying
// the bundle offline.
func BenchmarkAuditExportVerifyAt100k(b *testing.B) {
	l := hundredThousand(b)
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(b.TempDir(), fmt.Sprint("export-", i))
		if _, _, err := l.Export(context.Background(), out, audit.ExportOptions{Preview: "pr-7"}); err != nil {
			b.Fatal(err)
		}
		if v, err := audit.Verify(out, audit.VerifyOptions{Key: l.PublicKey().PEM()}); err != nil || len(v.Entries) < 2000 {
			b.Fatal(err)
		}
	}
}
