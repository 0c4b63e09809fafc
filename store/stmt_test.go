package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// eachCached is storetest.Each with the cache of prepared statements on,
// on PostgreSQL too (where Open leaves it off for pgx's own).
func eachCached(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		store.SetStmtCache(db, true)
		migrateKV(t, db)
		fn(t, db)
	})
}

// TestStmtCacheReuse runs the same statements in and out of transactions:
// a data statement is prepared the second time it runs and reused from
// then on, a schema statement never; the answers stay right throughout.
func TestStmtCacheReuse(t *testing.T) {
	eachCached(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		base := store.StmtCacheLen(db) // the migration's
		const ins = "INSERT INTO kv (k, v) VALUES ($1, $2)"
		const sel = "SELECT v FROM kv WHERE k = $1"
		for i := range 5 {
			if err := db.Tx(ctx, func(tx *store.Tx) error {
				for j := range 3 {
					if _, err := tx.Exec(ctx, ins, fmt.Sprint(i, "-", j), i*10+j); err != nil {
						return err
					}
					var v int64
					if err := tx.QueryRow(ctx, sel, fmt.Sprint(i, "-", j)).Scan(&v); err != nil {
						return err
					}
					if v != int64(i*10+j) {
						return fmt.Errorf("read %d, want %d", v, i*10+j)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if got := store.StmtCacheLen(db) - base; i > 0 && got != 2 {
				t.Fatalf("after transaction %d: %d statements cached, want 2", i, got)
			}
		}
		for i := range 3 {
			var v int64
			if err := db.QueryRow(ctx, sel, "4-2").Scan(&v); err != nil || v != 42 {
				t.Fatalf("QueryRow = %d, %v; want 42", v, err)
			}
			if _, err := db.Exec(ctx, "CREATE TABLE IF NOT EXISTS other (x BIGINT)"); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				continue
			}
			if got := store.StmtCacheLen(db) - base; got != 2 {
				t.Fatalf("%d statements cached, want 2 (no schema statements)", got)
			}
		}
		long := "SELECT v FROM kv WHERE k = $1 /*" + strings.Repeat(" long", 250) + " */"
		for range 3 {
			var v int64
			if err := db.QueryRow(ctx, long, "1-2").Scan(&v); err != nil || v != 12 {
				t.Fatalf("long QueryRow = %d, %v; want 12", v, err)
			}
		}
		if got := store.StmtCacheLen(db) - base; got != 2 {
			t.Fatalf("%d statements cached, want 2 (no long texts)", got)
		}
		rows, err := db.Query(ctx, "SELECT k FROM kv ORDER BY k")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil || n != 15 {
			t.Fatalf("Query: %d rows, %v; want 15", n, err)
		}
	})
}

// TestStmtCacheErrors has cached statements report the errors they report
// unprepared: ErrConflict for a duplicate key and ErrNotFound for no row,
// after which the transaction goes on (on SQLite; PostgreSQL ends a
// transaction at its first error).
func TestStmtCacheErrors(t *testing.T) {
	eachCached(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := range 3 {
			_, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('dup', $1)", i)
			if (i == 0) != (err == nil) || i > 0 && !errors.Is(err, store.ErrConflict) {
				t.Fatalf("insert %d: %v", i, err)
			}
		}
		for range 3 {
			err := db.Tx(ctx, func(tx *store.Tx) error {
				var v int64
				if err := tx.QueryRow(ctx, "SELECT v FROM kv WHERE k = $1", "absent").Scan(&v); !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("absent key: %v, want ErrNotFound", err)
				}
				if db.Dialect() == store.PostgreSQL {
					return nil
				}
				_, err := tx.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('dup', 9)")
				if !errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("duplicate: %v, want ErrConflict", err)
				}
				return tx.QueryRow(ctx, "SELECT v FROM kv WHERE k = $1", "dup").Scan(&v)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestStmtCacheSchemaChange changes the schema under cached statements: a
// migration that creates a table and writes it in the same transaction
// (where another connection cannot prepare a statement on it yet), and
// one that replaces a table whose statements are cached by one with the
// columns in another order.
func TestStmtCacheSchemaChange(t *testing.T) {
	eachCached(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		fill := func(ctx context.Context, tx *store.Tx) error {
			for i := range 3 {
				if _, err := tx.Exec(ctx, "INSERT INTO t (a, b) VALUES ($1, $2)", i, fmt.Sprint("b", i)); err != nil {
					return err
				}
			}
			return nil
		}
		steps := []store.Migration{{Version: 1, Name: "t", SQL: "CREATE TABLE t (a BIGINT PRIMARY KEY, b TEXT NOT NULL)", Func: fill}}
		if err := db.Migrate(ctx, "stmt", steps); err != nil {
			t.Fatal(err)
		}
		read := func(want string) {
			t.Helper()
			for range 3 {
				var b string
				if err := db.Tx(ctx, func(tx *store.Tx) error {
					return tx.QueryRow(ctx, "SELECT b FROM t WHERE a = $1", 2).Scan(&b)
				}); err != nil || b != want {
					t.Fatalf("read %q, %v; want %q", b, err, want)
				}
			}
		}
		read("b2")
		steps = append(steps, store.Migration{Version: 2, Name: "t again",
			SQL: "DROP TABLE t; CREATE TABLE t (b TEXT NOT NULL, x BIGINT NOT NULL DEFAULT 7, a BIGINT PRIMARY KEY)",
			Func: func(ctx context.Context, tx *store.Tx) error {
				_, err := tx.Exec(ctx, "INSERT INTO t (a, b) VALUES (2, 'new')")
				return err
			}})
		if err := db.Migrate(ctx, "stmt", steps); err != nil {
			t.Fatal(err)
		}
		read("new")
	})
}

// TestStmtCacheBounded runs more distinct statements than the cache holds,
// from several goroutines, each text several times: the cache stays at its
// bound, and statements evicted while in use by another goroutine go on
// working (run with -race).
func TestStmtCacheBounded(t *testing.T) {
	eachCached(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('x', 5)"); err != nil {
			t.Fatal(err)
		}
		texts := store.StmtCacheSize + 40
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range texts {
					q := fmt.Sprintf("SELECT v + %d FROM kv WHERE k = $1", (i+g*37)%texts)
					var v int64
					var err error
					if i%2 == 0 {
						err = db.QueryRow(ctx, q, "x").Scan(&v)
					} else {
						err = db.Tx(ctx, func(tx *store.Tx) error {
							if err := tx.QueryRow(ctx, q, "x").Scan(&v); err != nil {
								return err
							}
							return tx.QueryRow(ctx, q, "x").Scan(&v)
						})
					}
					if want := int64(5 + (i+g*37)%texts); err != nil || v != want {
						t.Errorf("%s: %d, %v; want %d", q, v, err, want)
						return
					}
				}
			})
		}
		wg.Wait()
		if got := store.StmtCacheLen(db); got != store.StmtCacheSize {
			t.Errorf("%d statements cached, want the bound %d", got, store.StmtCacheSize)
		}
	})
}

// TestStmtCacheClose closes a DB with cached statements: they go with it,
// and a later call fails with an error rather than a panic.
func TestStmtCacheClose(t *testing.T) {
	eachCached(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		base := store.StmtCacheLen(db) // the migration's
		for range 2 {
			if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('c', 1) ON CONFLICT (k) DO NOTHING"); err != nil {
				t.Fatal(err)
			}
		}
		if n := store.StmtCacheLen(db) - base; n != 1 {
			t.Fatalf("%d statements cached, want 1", n)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if n := store.StmtCacheLen(db); n != 0 {
			t.Errorf("%d statements cached after Close", n)
		}
		if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('c', 1) ON CONFLICT (k) DO NOTHING"); err == nil {
			t.Error("Exec after Close succeeded")
		}
	})
}
