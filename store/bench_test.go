package store_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// BenchmarkTxInsert commits one small row per transaction, one after the
// other: on SQLite each commit is an fsync of the WAL (synchronous=FULL);
// the PostgreSQL test server runs with fsync off.
func BenchmarkTxInsert(b *testing.B) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		migrateKV(b, db)
		payload := make([]byte, 64)
		i := 0
		for b.Loop() {
			i++
			if err := db.Tx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO kv (k, v, b) VALUES ($1, $2, $3)", strconv.Itoa(i), i, payload)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTxInsertParallel is BenchmarkTxInsert from GOMAXPROCS goroutines.
func BenchmarkTxInsertParallel(b *testing.B) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		migrateKV(b, db)
		payload := make([]byte, 64)
		var n atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				if err := db.Tx(ctx, func(tx *store.Tx) error {
					_, err := tx.Exec(ctx, "INSERT INTO kv (k, v, b) VALUES ($1, $2, $3)", strconv.FormatInt(i, 10), i, payload)
					return err
				}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
