package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNotSQLite is returned by SnapshotSQLite on a PostgreSQL database,
// whose snapshots pg_dump makes (docs/operations.md).
var ErrNotSQLite = errors.New("store: not an SQLite database")

// SnapshotSQLite writes a consistent copy of the SQLite database db to the
// new file path (mode 0600) with VACUUM INTO: one read transaction, so
// that other connections and processes go on writing while it runs and the
// copy is the database as of one commit.
func (db *DB) SnapshotSQLite(ctx context.Context, path string) error {
	if db.dialect != SQLite {
		return ErrNotSQLite
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: snapshot: %s exists", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	f.Close()
	// VACUUM INTO wants a new or empty file: the empty one made above
	// fixes its mode.
	if _, err := db.sql.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		os.Remove(path)
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}
