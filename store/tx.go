package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"time"
)

// Retry policy of Tx: at most maxAttempts runs of fn, with a random pause
// before each new run of up to backoffBase·2ⁿ, capped at backoffMax. The
// jitter matters more than the length: it spreads out the goroutines that
// lost the same race so they do not collide again. Tests shorten it.
var (
	maxAttempts = 30
	backoffBase = 1 * time.Millisecond
	backoffMax  = 64 * time.Millisecond
)

// Tx is a transaction in progress, handed to the function given to [DB.Tx].
// Its methods take $n placeholders. It must not be used once that function
// has returned.
type Tx struct {
	tx      *sql.Tx
	dialect Dialect
	stmts   txStmts
	// lost is the first serialization failure, deadlock or busy error a
	// statement reported: the transaction is then run again even if fn
	// swallowed the error.
	lost error
}

// Dialect reports which database the transaction runs on.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// Exec runs a statement in the transaction. A unique or primary key
// violation is reported as an error matching [ErrConflict].
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var r sql.Result
	var err error
	if s := tx.stmts.get(ctx, tx.tx, query); s != nil {
		r, err = s.ExecContext(ctx, args...)
		tx.stmts.failed(query, err)
	} else {
		r, err = tx.tx.ExecContext(ctx, tx.dialect.Rebind(query), args...)
	}
	return r, tx.note(mapErr(err))
}

// Query runs a query in the transaction. Close the rows before fn returns,
// and before the transaction's next statement (PostgreSQL requires it).
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	var rows *sql.Rows
	var err error
	if s := tx.stmts.get(ctx, tx.tx, query); s != nil {
		rows, err = s.QueryContext(ctx, args...)
		tx.stmts.failed(query, err)
	} else {
		rows, err = tx.tx.QueryContext(ctx, tx.dialect.Rebind(query), args...)
	}
	return rows, tx.note(mapErr(err))
}

// QueryRow runs a query expected to return at most one row in the
// transaction. Its Scan reports [ErrNotFound] when there is no row.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *Row {
	if s := tx.stmts.get(ctx, tx.tx, query); s != nil {
		return &Row{row: s.QueryRowContext(ctx, args...), note: func(err error) {
			tx.stmts.failed(query, err)
			tx.note(err)
		}}
	}
	r := tx.tx.QueryRowContext(ctx, tx.dialect.Rebind(query), args...)
	return &Row{row: r, note: func(err error) { tx.note(err) }}
}

func (tx *Tx) note(err error) error {
	if err != nil && tx.lost == nil && retryable(err) {
		tx.lost = err
	}
	return err
}

// Tx runs fn in a read-write transaction and commits it if fn returns nil.
// If fn returns an error the transaction is rolled back and the error
// returned as is; if fn panics it is rolled back and the panic goes on.
//
// The transaction is serializable: on SQLite it holds the database's write
// lock from its start (BEGIN IMMEDIATE, one writer at a time); on PostgreSQL
// it runs at SERIALIZABLE isolation, chosen over REPEATABLE READ because our
// invariants are check-then-write across rows ("the sum of credit issued
// stays under the limit", "this TID is newer than every used one"), which
// REPEATABLE READ lets two concurrent transactions break together (write
// skew). The price is serialization failures under contention, which Tx
// absorbs: when the database reports one (or a deadlock, or SQLite's busy
// error) the transaction is rolled back and fn runs again, after a short
// random pause, up to a bounded number of times; then Tx returns an error
// matching [ErrContention].
//
// So fn may run more than once: it must do nothing but database work through
// tx (no sending, no counting outside), and return the errors it gets.
// Do not start another transaction of the same DB inside fn: on SQLite it
// would wait for the write lock fn holds until ctx ends.
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	return db.run(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable}, nil, fn)
}

// run is Tx with the PostgreSQL options and a statement to run first (for
// migrations, which take a lock at READ COMMITTED).
func (db *DB) run(ctx context.Context, pgOpts *sql.TxOptions, first func(*Tx) error, fn func(*Tx) error) error {
	for attempt := 1; ; attempt++ {
		again, err := db.attempt(ctx, pgOpts, first, fn)
		if !again {
			return err
		}
		if attempt >= maxAttempts {
			return fmt.Errorf("%w (%d attempts): %w", ErrContention, attempt, err)
		}
		d := min(backoffBase<<(attempt-1), backoffMax)
		t := time.NewTimer(rand.N(d) + 1)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("store: transaction not retried: %w (after: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// attempt runs fn once in a transaction and reports its outcome, and whether
// it is worth running again.
func (db *DB) attempt(ctx context.Context, pgOpts *sql.TxOptions, first, fn func(*Tx) error) (again bool, err error) {
	var opts *sql.TxOptions
	if db.dialect == PostgreSQL {
		opts = pgOpts
	} else {
		select {
		case db.writer <- struct{}{}:
			defer func() { <-db.writer }()
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	stx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		err = mapErr(err)
		return retryable(err), err
	}
	tx := &Tx{tx: stx, dialect: db.dialect, stmts: txStmts{cache: db.stmts}}
	done := false
	defer func() {
		if !done { // fn failed or panicked
			stx.Rollback()
		}
	}()
	if first != nil {
		if err := first(tx); err != nil {
			return retryable(err), err
		}
	}
	if err := fn(tx); err != nil {
		return retryable(err) || tx.lost != nil, err
	}
	done = true
	if err := stx.Commit(); err != nil {
		err = mapErr(err)
		return retryable(err) || tx.lost != nil, err
	}
	return false, nil
}
