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

// BenchmarkTxRead runs a transaction of three small queries by key, the
// typical lookups before a write, with the statements parsed each time
// ("unprepared") and taken from the DB's cache of prepared statements
// ("prepared"; Open turns it on for SQLite only, pgx keeps its own).
// Nothing is written, so no commit waits for the disk.
func BenchmarkTxRead(b *testing.B) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		migrateKV(b, db)
		for i := range 100 {
			if _, err := db.Exec(ctx, "INSERT INTO kv (k, v, b) VALUES ($1, $2, $3)", strconv.Itoa(i), i, []byte("x")); err != nil {
				b.Fatal(err)
			}
		}
		for _, prepared := range []bool{false, true} {
			b.Run(map[bool]string{false: "unprepared", true: "prepared"}[prepared], func(b *testing.B) {
				store.SetStmtCache(db, prepared)
				i := 0
				for b.Loop() {
					i++
					k := strconv.Itoa(i % 100)
					if err := db.Tx(ctx, func(tx *store.Tx) error {
						var v, n int64
						var blob []byte
						if err := tx.QueryRow(ctx, "SELECT v FROM kv WHERE k = $1", k).Scan(&v); err != nil {
							return err
						}
						if err := tx.QueryRow(ctx, "SELECT b FROM kv WHERE k = $1 AND v = $2", k, v).Scan(&blob); err != nil {
							return err
						}
						return tx.QueryRow(ctx, "SELECT COUNT(*) FROM kv WHERE v >= $1", v).Scan(&n)
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	})
}
