// Package store is the persistence layer shared by the security module, the
// KMC and the audit log: one SQL database behind database/sql, either an
// embedded SQLite file (the default, modernc.org/sqlite, pure Go) or a
// PostgreSQL server (github.com/jackc/pgx/v5 through its database/sql driver)
// when several processes share state.
//
// It imports the standard library and those two drivers only, and nothing of
// stskms: domain packages import store, never the reverse. It stores what it
// is given; sealing key material before it gets here is the caller's job.
//
// # One SQL for both
//
// Callers write one portable SQL subset and store adapts it:
//
//   - Placeholders are PostgreSQL's $1, $2, … (a number may repeat or come out
//     of order); on SQLite they are rebound to its numbered ?1, ?2, …
//     (see [Dialect.Rebind]). Never use '?'.
//   - Column types: BIGINT for integers (64 bits on both; PostgreSQL's
//     INTEGER is 32 bits), TEXT for strings, and in migrations {{blob}} for
//     bytes (BLOB on SQLite, BYTEA on PostgreSQL) and {{autoid}} for a
//     surrogate key column (see [Dialect.Expand]). No BOOLEAN (use BIGINT 0/1),
//     no time types (store Unix time as BIGINT or RFC 3339 UTC as TEXT), no
//     NUMERIC (money is BIGINT minor units).
//   - Statements: plain SELECT/INSERT/UPDATE/DELETE, INSERT … ON CONFLICT (…)
//     DO NOTHING / DO UPDATE SET c = excluded.c, RETURNING, COALESCE, COUNT,
//     MAX, and CAST(SUM(x) AS BIGINT) (PostgreSQL's SUM of BIGINT is NUMERIC).
//     No '::' casts, no dollar quoting, no SERIAL, no ILIKE.
//   - Scan integers into int64, TEXT into string, bytes into []byte.
//   - A failed statement ends a PostgreSQL transaction: treat any error inside
//     a transaction as the end of it and return it. "Insert unless present"
//     is INSERT … ON CONFLICT DO NOTHING and a look at RowsAffected; "insert,
//     and fail if present" is a plain INSERT and errors.Is(err, [ErrConflict]).
//
// # Transactions
//
// State changes go through [DB.Tx], which gives serializable transactions on
// both back ends (SQLite: one writer at a time, BEGIN IMMEDIATE; PostgreSQL:
// SERIALIZABLE) and runs the function again when the database reports a
// serialization failure or deadlock. A check-then-write such as "spend this
// much credit limit" or "use this TID" is therefore one call of Tx and can
// never be interleaved with a concurrent one.
//
// # Prepared statements
//
// On SQLite a DB keeps the statements it runs prepared, in and out of
// transactions, so that a text run again is not parsed again (parsing was
// the largest single cost of a small transaction): a data statement is
// prepared the second time its text runs and kept, up to 256 of them, the
// least recently used making way; schema statements and texts longer than
// 1 KiB (statements built for a batch of rows) are parsed each time. SQLite
// prepares a statement again by itself when the schema changes. On
// PostgreSQL pgx keeps its own cache of prepared statements on each
// connection. Either way callers only pass SQL text.
//
// # Durability
//
// SQLite runs in WAL mode with synchronous=FULL: when Tx returns nil the
// transaction is on disk and survives a crash of the process or the machine.
// PostgreSQL's durability is the server's (keep its fsync on).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL database behind a DB.
type Dialect int

const (
	// SQLite is the embedded default: one file, one writer at a time.
	SQLite Dialect = iota + 1
	// PostgreSQL is the shared server for several processes.
	PostgreSQL
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case PostgreSQL:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// Tuning of the embedded and server back ends.
const (
	// sqliteBusyTimeout is how long an SQLite statement waits for another
	// process's write lock before failing with SQLITE_BUSY.
	sqliteBusyTimeout = 10 * time.Second
	// pgMaxConns bounds the PostgreSQL pool of one DB.
	pgMaxConns = 16
)

// DB is an open database. It is safe for concurrent use; Close it when done.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	// writer serialises the write transactions of this DB on SQLite, which
	// allows one writer at a time anyway: goroutines queue here, in order and
	// without polling, rather than in SQLite's busy handler. Other processes
	// are still kept out by BEGIN IMMEDIATE and the busy timeout.
	writer chan struct{}
	// stmts keeps statements prepared on SQLite, which would otherwise parse
	// each text every time it runs. It is nil on PostgreSQL, where pgx keeps
	// its own cache of prepared statements on each connection.
	stmts *stmtCache
}

// Open opens the database named by dsn:
//
//   - "postgres://…" or "postgresql://…": a PostgreSQL server, in any form
//     pgx accepts as a URL (for example
//     postgres://user:pass@host:5432/db?sslmode=verify-full or, for a unix
//     socket, postgres://user@/db?host=/run/postgresql).
//   - "sqlite:PATH" or a bare PATH: an SQLite file, created (mode 0600) if
//     missing; its directory must exist. "sqlite:///abs/path" is accepted too.
//     The path may not contain '?': the connection settings are fixed by
//     Open (WAL, synchronous=FULL, foreign_keys=on, busy_timeout, BEGIN
//     IMMEDIATE).
//
// A PostgreSQL DB keeps a pool of at most 16 connections; an SQLite DB
// lets its transactions take the write lock one after the other, and reads
// outside transactions (DB.Query, DB.QueryRow) run alongside them.
//
// Open connects before it returns. Its errors never contain a password.
func Open(ctx context.Context, dsn string) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite:"):
		p := strings.TrimPrefix(dsn, "sqlite:")
		return openSQLite(ctx, strings.TrimPrefix(p, "//"))
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		if len(scheme) > 20 {
			scheme = scheme[:20] + "…"
		}
		return nil, fmt.Errorf("%w: unsupported database %q (want sqlite: or postgres://)", ErrBadDSN, scheme)
	default:
		return openSQLite(ctx, dsn)
	}
}

// OpenExisting is Open for a database that must exist already, for tools
// that inspect or administer one: a missing SQLite file is ErrNoDatabase
// instead of being created. (A PostgreSQL database is not created by Open
// either.)
func OpenExisting(ctx context.Context, dsn string) (*DB, error) {
	if path, ok := sqlitePath(dsn); ok && path != "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNoDatabase, path)
		}
	}
	return Open(ctx, dsn)
}

// HasPassword reports whether dsn carries a password (a PostgreSQL URL
// with one in its user information or its password parameter), so that
// whatever file holds the DSN must be kept as a secret.
func HasPassword(dsn string) bool {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return false
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return true // unparsable: assume the worst
	}
	_, set := u.User.Password()
	return set || u.Query().Has("password")
}

// sqlitePath returns the file of an SQLite DSN as Open reads it.
func sqlitePath(dsn string) (string, bool) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//"), true
	case strings.Contains(dsn, "://"):
		return "", false
	}
	return dsn, true
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	switch {
	case path == "":
		return nil, fmt.Errorf("%w: empty SQLite path", ErrBadDSN)
	case strings.Contains(path, "?"):
		return nil, fmt.Errorf("%w: SQLite path %q contains '?'", ErrBadDSN, path)
	case path == ":memory:", strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("%w: SQLite path %q: want a file path", ErrBadDSN, path)
	}
	// Create the file ourselves so that it (and the -wal and -shm files,
	// which SQLite gives the same mode) is readable by its owner only.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: failed to open SQLite database: %w", err)
	}
	f.Close()

	q := fmt.Sprintf("?_txlock=immediate&_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)"+
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)", sqliteBusyTimeout.Milliseconds())
	sdb, err := sql.Open("sqlite", path+q)
	if err != nil {
		return nil, fmt.Errorf("store: failed to open SQLite database %s: %w", path, err)
	}
	sdb.SetMaxIdleConns(8)
	db := &DB{sql: sdb, dialect: SQLite, writer: make(chan struct{}, 1), stmts: newStmtCache(sdb, SQLite)}
	var mode string
	if err := sdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: failed to open SQLite database %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		sdb.Close()
		return nil, fmt.Errorf("store: SQLite database %s: journal mode is %q, not WAL", path, mode)
	}
	return db, nil
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords only on a best-effort basis: say nothing
		// about the DSN itself.
		return nil, fmt.Errorf("%w: cannot parse the PostgreSQL URL", ErrBadDSN)
	}
	sdb := stdlib.OpenDB(*cfg)
	sdb.SetMaxOpenConns(pgMaxConns)
	sdb.SetMaxIdleConns(pgMaxConns)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: failed to connect to PostgreSQL: %w", scrub(err, cfg.Password))
	}
	return &DB{sql: sdb, dialect: PostgreSQL}, nil
}

// scrub returns err, or a copy of its text without secret if it contains it.
func scrub(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "xxxxx"))
}

// Dialect reports which database db is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes the prepared statements and the connection pool.
// Transactions in progress fail.
func (db *DB) Close() error {
	db.stmts.close()
	return db.sql.Close()
}

// Exec runs a statement outside any transaction (autocommit), with $n
// placeholders. Errors are mapped as in [Tx.Exec].
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := db.stmts.acquire(ctx, query); s != nil {
		defer db.stmts.release(s)
		r, err := s.stmt.ExecContext(ctx, args...)
		return r, mapErr(err)
	}
	r, err := db.sql.ExecContext(ctx, db.dialect.Rebind(query), args...)
	return r, mapErr(err)
}

// Query runs a query outside any transaction, with $n placeholders.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := db.stmts.acquire(ctx, query); s != nil {
		defer db.stmts.release(s)
		rows, err := s.stmt.QueryContext(ctx, args...)
		return rows, mapErr(err)
	}
	rows, err := db.sql.QueryContext(ctx, db.dialect.Rebind(query), args...)
	return rows, mapErr(err)
}

// QueryRow runs a query expected to return at most one row outside any
// transaction, with $n placeholders. Its Scan reports [ErrNotFound] when
// there is no row.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) *Row {
	if s := db.stmts.acquire(ctx, query); s != nil {
		defer db.stmts.release(s)
		return &Row{row: s.stmt.QueryRowContext(ctx, args...)}
	}
	return &Row{row: db.sql.QueryRowContext(ctx, db.dialect.Rebind(query), args...)}
}

// Row is the result of QueryRow.
type Row struct {
	row  *sql.Row
	note func(error)
}

// Scan copies the row's columns into dest, like [sql.Row.Scan]. It returns
// [ErrNotFound] (which matches sql.ErrNoRows too) if there was no row.
func (r *Row) Scan(dest ...any) error {
	err := mapErr(r.row.Scan(dest...))
	if r.note != nil {
		r.note(err)
	}
	return err
}

// InDir returns dsn with a relative SQLite path taken relative to dir, as
// the directories of a module or a KMC record their own database
// ("sqlite:sm.db"); any other DSN comes back as it is.
func InDir(dir, dsn string) string {
	if rel, ok := strings.CutPrefix(dsn, "sqlite:"); ok && !filepath.IsAbs(rel) && !strings.HasPrefix(rel, "//") {
		return "sqlite:" + filepath.Join(dir, rel)
	}
	return dsn
}
