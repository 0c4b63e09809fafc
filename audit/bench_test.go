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
