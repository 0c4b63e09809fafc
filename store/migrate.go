package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Migration is one step of a component's schema. Steps are numbered from 1
// without gaps, and a step, once released, is never changed: a new need is a
// new step.
type Migration struct {
	Version int    // 1, 2, 3, … in order
	Name    string // what the step does, recorded with it
	// SQL is run first: one or more statements separated by ';', without
	// placeholders, with the type names of [Dialect.Expand].
	SQL string
	// Func, if not nil, then runs in the same transaction (for a data
	// migration that needs Go).
	Func func(ctx context.Context, tx *Tx) error
}

// migrationLock is the PostgreSQL advisory lock key under which all
// migrations of all components run ("stskms" in ASCII).
const migrationLock = 0x73746b6d73

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  TEXT   NOT NULL,
	version    BIGINT NOT NULL,
	name       TEXT   NOT NULL,
	applied_at TEXT   NOT NULL,
	PRIMARY KEY (component, version)
)`

// Migrate brings component's schema ("audit", "sm", "kmc", …) up to the last
// of steps, applying those not yet recorded in the schema_migrations table,
// each in its own transaction together with its record, so that a step is
// either wholly applied and recorded or not at all. Running it again does
// nothing. Several processes may migrate the same database at once: steps
// run under a lock (PostgreSQL: an advisory lock; SQLite: the write lock),
// and each is applied once.
//
// A database already at a version newer than the last step is refused with
// a *VersionError matching [ErrSchemaTooNew], and left untouched.
func (db *DB) Migrate(ctx context.Context, component string, steps []Migration) error {
	if component == "" {
		return errors.New("store: migrate: empty component name")
	}
	for i, s := range steps {
		if s.Version != i+1 {
			return fmt.Errorf("store: migrate %s: step %d has version %d, want %d", component, i, s.Version, i+1)
		}
		if s.Name == "" {
			return fmt.Errorf("store: migrate %s: step %d has no name", component, s.Version)
		}
	}
	if err := db.migrationTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, migrationsTable)
		return err
	}); err != nil {
		return fmt.Errorf("store: failed to create schema_migrations: %w", err)
	}
	for _, s := range steps {
		err := db.migrationTx(ctx, func(tx *Tx) error {
			v, err := version(ctx, tx, component)
			switch {
			case err != nil:
				return err
			case v > len(steps):
				return &VersionError{Component: component, Database: v, Program: len(steps)}
			case v >= s.Version:
				return nil // applied already, perhaps by another process just now
			case v != s.Version-1:
				return fmt.Errorf("store: migrate %s: database at version %d, next step is %d", component, v, s.Version)
			}
			if s.SQL != "" {
				ddl, err := tx.Dialect().Expand(s.SQL)
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, ddl); err != nil {
					return err
				}
			}
			if s.Func != nil {
				if err := s.Func(ctx, tx); err != nil {
					return err
				}
			}
			_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (component, version, name, applied_at)
				VALUES ($1, $2, $3, $4)`, component, s.Version, s.Name, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		var ve *VersionError
		if errors.As(err, &ve) {
			return err
		}
		if err != nil {
			return fmt.Errorf("store: migrate %s to version %d (%s): %w", component, s.Version, s.Name, err)
		}
	}
	if len(steps) == 0 {
		// Nothing to apply; still refuse a database we do not understand.
		v, err := db.Version(ctx, component)
		if err != nil {
			return err
		}
		if v > 0 {
			return &VersionError{Component: component, Database: v}
		}
	}
	return nil
}

// migrationTx runs fn in a transaction that holds the migration lock from
// its first statement on. On PostgreSQL that is an advisory lock taken at
// READ COMMITTED, so that what fn reads after the lock includes everything
// committed by whoever held it before (a SERIALIZABLE snapshot would be
// taken before the wait). On SQLite it is the write lock of BEGIN IMMEDIATE.
func (db *DB) migrationTx(ctx context.Context, fn func(tx *Tx) error) error {
	var lock func(tx *Tx) error
	if db.dialect == PostgreSQL {
		lock = func(tx *Tx) error {
			_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock))
			return err
		}
	}
	return db.run(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, lock, fn)
}

// Version returns the schema version of component recorded in the
// database: 0 if it was never migrated.
func (db *DB) Version(ctx context.Context, component string) (int, error) {
	var v int
	err := db.Tx(ctx, func(tx *Tx) error {
		var err error
		v, err = version(ctx, tx, component)
		return err
	})
	return v, err
}

func version(ctx context.Context, tx *Tx, component string) (int, error) {
	var exists int64
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if tx.Dialect() == PostgreSQL {
		q = `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'`
	}
	if err := tx.QueryRow(ctx, q).Scan(&exists); err != nil {
		return 0, err
	}
	if exists == 0 {
		return 0, nil
	}
	var v int64
	err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1`,
		component).Scan(&v)
	return int(v), err
}
