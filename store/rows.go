package store

import (
	"context"
	"database/sql"
)

// Querier runs a query that returns rows: a *DB, or a *Tx inside a
// transaction.
type Querier interface {
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Scanner is one row to read: *sql.Rows at a row, or a *Row.
type Scanner interface {
	Scan(dest ...any) error
}

// EachRow runs query with args on q and calls fn with each row in turn. It
// stops at fn's first error and returns it as it is; otherwise it returns
// the error that ended the rows early, if any (a lost connection). The
// rows are closed either way: the one place that reads rows, so that none
// forgets Close or Err.
func EachRow(ctx context.Context, q Querier, query string, args []any, fn func(Scanner) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// All runs query with args on q and returns what read makes of each row,
// in the rows' order (nil for none); the first error of the query or of
// read is returned, with no rows.
func All[T any](ctx context.Context, q Querier, query string, args []any, read func(Scanner) (T, error)) ([]T, error) {
	var out []T
	err := EachRow(ctx, q, query, args, func(s Scanner) error {
		v, err := read(s)
		if err == nil {
			out = append(out, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
