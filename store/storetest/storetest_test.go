package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/store"
)

func TestMain(m *testing.M) { Main(m) }

func TestEach(t *testing.T) {
	seen := map[string]bool{}
	Each(t, func(t *testing.T, db *store.DB) {
		seen[db.Dialect().String()] = true
		ctx := context.Background()
		if _, err := db.Exec(ctx, "CREATE TABLE t (k BIGINT PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO t (k) VALUES ($1)", 1); err != nil {
			t.Fatal(err)
		}
		// A second handle sees the same database, as another process would.
		var n int64
		if err := Reopen(t, db).QueryRow(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
			t.Fatalf("through Reopen: count %d, %v; want 1", n, err)
		}
	})
	if !seen["sqlite"] {
		t.Error("no sqlite subtest ran")
	}
}

// TestEachFresh checks that each call gets an empty database.
func TestEachFresh(t *testing.T) {
	for range 2 {
		Each(t, func(t *testing.T, db *store.DB) {
			if _, err := db.Exec(context.Background(), "CREATE TABLE t (k BIGINT)"); err != nil {
				t.Fatalf("table left over from an earlier test: %v", err)
			}
		})
	}
}

// TestOpen: Open gives a usable database at the DSN, which a second Open
// finds as it was, and closes it after the test.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "open.db")
	var db *store.DB
	t.Run("write", func(t *testing.T) {
		db = Open(t, dsn)
		if _, err := db.Exec(ctx, "CREATE TABLE t (k BIGINT)"); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := db.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("the database is still open after the test")
	}
	if _, err := Open(t, dsn).Exec(ctx, "INSERT INTO t (k) VALUES (1)"); err != nil {
		t.Errorf("the table is not there on a second Open: %v", err)
	}
}
