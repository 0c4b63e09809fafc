package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var (
	// ErrNotFound is returned by Row.Scan when the query matched no row. It
	// wraps sql.ErrNoRows, so errors.Is(err, sql.ErrNoRows) holds as well.
	ErrNotFound = fmt.Errorf("store: not found: %w", sql.ErrNoRows)

	// ErrConflict marks a statement that would have broken a UNIQUE or
	// PRIMARY KEY constraint (PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE
	// or _PRIMARYKEY). The driver's error stays in the chain. It is how
	// one-time use is recorded atomically: INSERT the TID, the request
	// number, the token; ErrConflict means it had been used.
	ErrConflict = errors.New("store: conflict with an existing row")

	// ErrBadDSN is returned by Open for a data source name it cannot use:
	// an unknown database, an unparsable URL, an unusable SQLite path.
	ErrBadDSN = errors.New("store: bad data source name")

	// ErrNoDatabase is returned by OpenExisting for an SQLite file that
	// does not exist.
	ErrNoDatabase = errors.New("store: no database")

	// ErrContention is returned by Tx when the transaction still failed on
	// serialization failures or deadlocks after the last attempt. The last
	// driver error stays in the chain. Trying again later is safe.
	ErrContention = errors.New("store: transaction kept conflicting with concurrent ones")

	// ErrSchemaTooNew is matched by the *VersionError that Migrate returns
	// when the database was migrated by a newer program than this one.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this program")
)

// VersionError reports a database whose schema version for a component is
// newer than the program's migrations know. errors.Is(err, ErrSchemaTooNew)
// holds for it.
type VersionError struct {
	Component string
	Database  int // the version recorded in the database
	Program   int // the newest version the program knows
}

// Error names the component and the two schema versions.
func (e *VersionError) Error() string {
	return fmt.Sprintf("store: schema of %q is at version %d, newer than this program's %d",
		e.Component, e.Database, e.Program)
}

// Unwrap returns ErrSchemaTooNew.
func (e *VersionError) Unwrap() error { return ErrSchemaTooNew }

// mapErr turns the drivers' errors into the package's sentinels where one
// applies, keeping the driver's error in the chain.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case isUniqueViolation(err):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// retryable reports whether err means the transaction lost a race and may
// succeed if run again: a PostgreSQL serialization failure (40001) or
// deadlock (40P01), or SQLite's SQLITE_BUSY or SQLITE_LOCKED.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}
