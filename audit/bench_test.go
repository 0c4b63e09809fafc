package audit_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// BenchmarkAppend appends one record per transaction, one after the other:
// on SQLite each commit is an fsync of the WAL (synchronous=FULL); the
// PostgreSQL test server runs with fsync off.
func BenchmarkAppend(b *testing.B) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		l := openLog(b, db)
		i := 0
		for b.Loop() {
			i++
			if _, err := l.AppendNow(ctx, entry(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendParallel is BenchmarkAppend from GOMAXPROCS goroutines,
// which all contend for the head.
func BenchmarkAppendParallel(b *testing.B) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		l := openLog(b, db)
		var n atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.AppendNow(ctx, entry(int(n.Add(1)))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkVerify verifies a log of 10,000 records.
func BenchmarkVerify(b *testing.B) {
	const records, perTx = 10000, 1000
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		l := openLog(b, db)
		for i := 0; i < records; i += perTx {
			if err := db.Tx(ctx, func(tx *store.Tx) error {
				for j := range perTx {
					if _, err := l.Append(ctx, tx, entry(i+j)); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		var rep audit.Report
		for b.Loop() {
			var err error
			if rep, err = l.Verify(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if rep.Records != records {
			b.Fatalf("%d records", rep.Records)
		}
		b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkAppendBatch appends 256 records per transaction with
// AppendBatch, as the module's group commit does; it reports records/s.
func BenchmarkAppendBatch(b *testing.B) {
	const perTx = 256
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		l := openLog(b, db)
		es := make([]audit.Entry, perTx)
		i := 0
		for b.Loop() {
			for j := range es {
				i++
				es[j] = entry(i)
			}
			if err := l.Tx(ctx, func(tx *store.Tx) error {
				_, err := l.AppendBatch(ctx, tx, es)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(perTx)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkCheck runs the quick check of opening (Check) on a log of
// 10,000 records, against a kept checkpoint: compare BenchmarkVerify.
func BenchmarkCheck(b *testing.B) {
	const records, perTx = 10000, 1000
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		l := openLog(b, db)
		s, _ := signer(b, l)
		es := make([]audit.Entry, perTx)
		for i := 0; i < records; i += perTx {
			for j := range es {
				es[j] = entry(i + j)
			}
			if err := l.Tx(ctx, func(tx *store.Tx) error {
				_, err := l.AppendBatch(ctx, tx, es)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if i == records/2 {
				checkpoint(b, l, s)
			}
		}
		for b.Loop() {
			if _, err := l.Check(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMigrate opens, with this version, a log of 100,000 records made
// by schema step 1 (the chain alone): the chain is verified and the tree
// built, once per iteration on a new database.
func BenchmarkMigrate(b *testing.B) {
	const records, perTx = 100000, 5000
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		for b.Loop() {
			b.StopTimer()
			db := storetest.Reopen(b, db)
			for _, q := range []string{`DROP TABLE IF EXISTS audit_log`, `DROP TABLE IF EXISTS audit_head`,
				`DROP TABLE IF EXISTS audit_checkpoint`, `DROP TABLE IF EXISTS audit_key`,
				`DELETE FROM schema_migrations WHERE component = 'audit'`} {
				db.Exec(ctx, q) // nothing to remove on the first run
			}
			if err := db.Migrate(ctx, "audit", audit.MigrationsV1); err != nil {
				b.Fatal(err)
			}
			es := make([]audit.Entry, perTx)
			for i := 0; i < records; i += perTx {
				for j := range es {
					es[j] = entry(i + j)
				}
				if err := audit.AppendV1(ctx, db, t0, es); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			if _, err := audit.Open(ctx, db); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
