package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestRetrySerializationFailure has two transactions read the same row and
// then both write it. On PostgreSQL, SERIALIZABLE lets only one commit: the
// other fails with a serialization failure (40001) and Tx runs it again. On
// SQLite the second cannot start before the first commits. Either way no
// update is lost.
func TestRetrySerializationFailure(t *testing.T) {
	eachKV(t, func(t *testing.T, ctx context.Context, db *store.DB) {
		if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('n', 0)"); err != nil {
			t.Fatal(err)
		}
		var runs atomic.Int32
		var read sync.WaitGroup // both first runs have read
		read.Add(2)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				first := true
				err := db.Tx(ctx, func(tx *store.Tx) error {
					runs.Add(1)
					var v int64
					if err := tx.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'n'").Scan(&v); err != nil {
						return err
					}
					if first {
						first = false
						read.Done()
						// On SQLite the other cannot read before this one ends.
						d := 10 * time.Second
						if db.Dialect() == store.SQLite {
							d = 100 * time.Millisecond
						}
						waitTimeout(&read, d)
					}
					_, err := tx.Exec(ctx, "UPDATE kv SET v = $1 WHERE k = 'n'", v+1)
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		var v int64
		if err := db.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'n'").Scan(&v); err != nil || v != 2 {
			t.Errorf("v = %d, %v; want 2", v, err)
		}
		switch n := runs.Load(); {
		case db.Dialect() == store.PostgreSQL && n < 3:
			t.Errorf("%d runs; want a retry after the serialization failure", n)
		case db.Dialect() == store.SQLite && n != 2:
			t.Errorf("%d runs; want 2, one after the other", n)
		}
	})
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// TestRetryBounded: a transaction that keeps losing is given up after a
// bounded number of runs, with ErrContention and the cause in the chain. A
// serialization failure the function swallowed still counts.
func TestRetryBounded(t *testing.T) {
	defer store.SetRetryPolicy(5, time.Microsecond, time.Microsecond)()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		lost := &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
		runs := 0
		err := db.Tx(ctx, func(tx *store.Tx) error {
			runs++
			return lost
		})
		var pe *pgconn.PgError
		if !errors.Is(err, store.ErrContention) || !errors.As(err, &pe) || pe.Code != "40001" {
			t.Errorf("Tx = %v, want ErrContention wrapping the 40001", err)
		}
		if runs != 5 {
			t.Errorf("%d runs, want 5", runs)
		}

		// Not retried: other errors, and a cancelled context.
		runs = 0
		errOther := errors.New("other")
		if err := db.Tx(ctx, func(*store.Tx) error { runs++; return errOther }); err != errOther || runs != 1 {
			t.Errorf("Tx = %v after %d runs, want errOther after 1", err, runs)
		}
		cctx, cancel := context.WithCancel(ctx)
		runs = 0
		err = db.Tx(cctx, func(*store.Tx) error { runs++; cancel(); return lost })
		if !errors.Is(err, context.Canceled) || runs != 1 {
			t.Errorf("Tx = %v after %d runs, want context.Canceled after 1", err, runs)
		}
	})
}

// TestCounter is the model of "the credit limit is never exceeded": 16
// goroutines each add 1 to a counter 50 times, reading it and writing it
// back in a transaction. Every increment must count: exactly 800.
func TestCounter(t *testing.T) {
	eachKV(t, func(t *testing.T, ctx context.Context, db *store.DB) {
		if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('counter', 0)"); err != nil {
			t.Fatal(err)
		}
		const workers, each = 16, 50
		var runs, most atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					n := int64(0)
					err := db.Tx(ctx, func(tx *store.Tx) error {
						runs.Add(1)
						n++
						var v int64
						if err := tx.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'counter'").Scan(&v); err != nil {
							return err
						}
						_, err := tx.Exec(ctx, "UPDATE kv SET v = $1 WHERE k = 'counter'", v+1)
						return err
					})
					if err != nil {
						t.Error(err)
						return
					}
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
				}
			})
		}
		wg.Wait()
		var v int64
		if err := db.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'counter'").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != workers*each {
			t.Errorf("counter = %d, want %d", v, workers*each)
		}
		t.Logf("%d transactions took %d runs, at most %d each (limit %d)",
			workers*each, runs.Load(), most.Load(), store.MaxAttempts())
	})
}
