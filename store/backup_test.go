package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestSnapshotSQLite: a snapshot taken while another goroutine commits
// holds a whole number of commits (each inserts two rows), is the owner's
// only, never overwrites a file, and is refused on PostgreSQL.
func TestSnapshotSQLite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "snap.db")
		if db.Dialect() == store.PostgreSQL {
			if err := db.SnapshotSQLite(ctx, path); !errors.Is(err, store.ErrNotSQLite) {
				t.Fatalf("PostgreSQL snapshot: %v", err)
			}
			return
		}
		if _, err := db.Exec(ctx, `CREATE TABLE pairs (n BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := db.Tx(ctx, func(tx *store.Tx) error {
					if _, err := tx.Exec(ctx, `INSERT INTO pairs (n) VALUES ($1)`, i); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `INSERT INTO pairs (n) VALUES ($1)`, i)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
		err := db.SnapshotSQLite(ctx, path)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("snapshot file: %v, %v", fi, err)
		}
		snap, err := store.OpenExisting(ctx, "sqlite:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Close()
		var n int64
		if err := snap.QueryRow(ctx, `SELECT count(*) FROM pairs`).Scan(&n); err != nil || n%2 != 0 {
			t.Fatalf("snapshot holds %d rows (%v): a torn commit", n, err)
		}
		if err := db.SnapshotSQLite(ctx, path); err == nil {
			t.Fatal("a snapshot overwrote a file")
		}
	})
}
