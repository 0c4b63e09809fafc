package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestRows: All reads every row in order, from a DB and inside a
// transaction, and nil for none; EachRow stops at its function's first
// error and returns it as it is; a query the database refuses is an error
// with no rows.
func TestRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, q := range []string{`CREATE TABLE r (n BIGINT PRIMARY KEY, name TEXT NOT NULL)`,
			`INSERT INTO r (n, name) VALUES (1, 'one'), (2, 'two'), (3, 'three')`} {
			if _, err := db.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		name := func(s store.Scanner) (string, error) {
			var n int64
			var name string
			err := s.Scan(&n, &name)
			return name, err
		}
		got, err := store.All(ctx, db, `SELECT n, name FROM r WHERE n >= $1 ORDER BY n`, []any{int64(2)}, name)
		if err != nil || !slices.Equal(got, []string{"two", "three"}) {
			t.Errorf("All = %q, %v", got, err)
		}
		err = db.Tx(ctx, func(tx *store.Tx) error {
			got, err = store.All(ctx, tx, `SELECT n, name FROM r ORDER BY n DESC`, nil, name)
			return err
		})
		if err != nil || !slices.Equal(got, []string{"three", "two", "one"}) {
			t.Errorf("All in a transaction = %q, %v", got, err)
		}
		if got, err = store.All(ctx, db, `SELECT n, name FROM r WHERE n > 3`, nil, name); got != nil || err != nil {
			t.Errorf("All of no rows = %#v, %v", got, err)
		}
		stop := errors.New("enough")
		calls := 0
		err = store.EachRow(ctx, db, `SELECT n, name FROM r ORDER BY n`, nil, func(store.Scanner) error {
			calls++
			return stop
		})
		if err != stop || calls != 1 {
			t.Errorf("EachRow stopped after %d rows with %v, want 1 and the function's error", calls, err)
		}
		if got, err = store.All(ctx, db, `SELECT n, nosuchcolumn FROM r`, nil, name); err == nil || got != nil {
			t.Errorf("All of a refused query = %q, %v", got, err)
		}
	})
}
