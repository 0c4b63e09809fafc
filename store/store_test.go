package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// kvSchema is the table most tests use.
var kvSchema = []store.Migration{{
	Version: 1,
	Name:    "kv",
	SQL: `CREATE TABLE kv (
		k TEXT PRIMARY KEY,
		v BIGINT NOT NULL,
		b {{blob}}
	)`,
}}

// migrateKV makes the kv table in db.
func migrateKV(t testing.TB, db *store.DB) {
	t.Helper()
	if err := db.Migrate(context.Background(), "test", kvSchema); err != nil {
		t.Fatal(err)
	}
}

// eachKV runs fn as storetest.Each does, on a database with the kv table.
func eachKV(t *testing.T, fn func(t *testing.T, ctx context.Context, db *store.DB)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		migrateKV(t, db)
		fn(t, context.Background(), db)
	})
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "bare.db"),
		"sqlite:" + filepath.Join(dir, "prefixed.db"),
		"sqlite://" + filepath.Join(dir, "url.db"),
	} {
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Errorf("Open(%q): %v", dsn, err)
			continue
		}
		if db.Dialect() != store.SQLite {
			t.Errorf("Open(%q).Dialect() = %v", dsn, db.Dialect())
		}
		db.Close()
	}
	for _, name := range []string{"bare.db", "prefixed.db", "url.db"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

func TestOpenBad(t *testing.T) {
	for _, dsn := range []string{
		"",
		"sqlite:",
		"mysql://root:hunter2@db/x",
		"sqlite:" + filepath.Join(t.TempDir(), "x.db") + "?_pragma=synchronous(OFF)",
		"sqlite::memory:",
		"file:x.db",
		"postgres://u:hunter2@[::1/db",
		"postgres://u:hunter2@host:notaport/db",
	} {
		if err := openFails(t, dsn); err != nil && !errors.Is(err, store.ErrBadDSN) {
			t.Errorf("Open(%q) = %v, want ErrBadDSN", dsn, err)
		}
	}
}

// openFails returns the error of Open(dsn); it fails t if Open succeeds
// or the error shows the password "hunter2".
func openFails(t *testing.T, dsn string) error {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err == nil {
		db.Close()
		t.Errorf("Open(%q) succeeded", dsn)
		return nil
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open(%q) error shows the password: %v", dsn, err)
	}
	return err
}

// TestOpenPostgresNoSecret connects to a closed port with a password: the
// error must not show it.
func TestOpenPostgresNoSecret(t *testing.T) {
	for _, dsn := range []string{
		"postgres://user:hunter2@127.0.0.1:1/db?connect_timeout=2&sslmode=disable",
		"postgresql://user@127.0.0.1:1/db?password=hunter2&connect_timeout=2&sslmode=disable",
	} {
		openFails(t, dsn)
	}
}

// TestSQLiteSettings checks the connection settings durability and
// integrity rest on, on every connection of the pool.
func TestSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Hold a few connections at once so that the pool has several.
	var rows []*sql.Rows
	for range 3 {
		r, err := db.Query(ctx, "SELECT 1")
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	for _, r := range rows {
		r.Close()
	}
	for range 3 {
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"synchronous":  "2", // FULL
			"foreign_keys": "1",
			"busy_timeout": "10000",
		} {
			var got string
			if err := db.QueryRow(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
			}
		}
	}
}

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT $1, $2, $10", "SELECT ?1, ?2, ?10"},
		{"WHERE a = $2 AND b = $1 OR c = $2", "WHERE a = ?2 AND b = ?1 OR c = ?2"},
		{"VALUES ($1,$2)", "VALUES (?1,?2)"},
		{"SELECT '$1', $1", "SELECT '$1', ?1"},
		{"SELECT 'it''s $1', $1", "SELECT 'it''s $1', ?1"},
		{`SELECT "col$1", $1`, `SELECT "col$1", ?1`},
		{"SELECT a$1, $1", "SELECT a$1, ?1"},
		{"SELECT $1 -- $2\n, $3", "SELECT ?1 -- $2\n, ?3"},
		{"SELECT $1 /* $2 */ , $3", "SELECT ?1 /* $2 */ , ?3"},
		{"SELECT $a, $", "SELECT $a, $"},
		{"SELECT 'unterminated $1", "SELECT 'unterminated $1"},
		{"SELECT /* unterminated $1", "SELECT /* unterminated $1"},
	} {
		if got := store.SQLite.Rebind(c.in); got != c.want {
			t.Errorf("SQLite.Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := store.PostgreSQL.Rebind(c.in); got != c.in {
			t.Errorf("PostgreSQL.Rebind(%q) = %q, want it unchanged", c.in, got)
		}
	}
}

func TestExpand(t *testing.T) {
	for d, want := range map[store.Dialect]string{
		store.SQLite:     "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB, c BLOB)",
		store.PostgreSQL: "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, b BYTEA, c BYTEA)",
	} {
		got, err := d.Expand("CREATE TABLE t (id {{autoid}}, b {{blob}}, c {{blob}})")
		if err != nil || got != want {
			t.Errorf("%v.Expand = %q, %v; want %q", d, got, err, want)
		}
		for _, bad := range []string{"x {{bool}}", "x {{blob"} {
			if _, err := d.Expand(bad); err == nil {
				t.Errorf("%v.Expand(%q) succeeded", d, bad)
			}
		}
	}
}

// TestPlaceholders runs rebound statements: numbers out of order, repeated,
// and dollar signs in literals.
func TestPlaceholders(t *testing.T) {
	eachKV(t, func(t *testing.T, ctx context.Context, db *store.DB) {
		if _, err := db.Exec(ctx, "INSERT INTO kv (v, k) VALUES ($2, $1)", "a", 7); err != nil {
			t.Fatal(err)
		}
		var k, lit string
		var v int64
		err := db.QueryRow(ctx, "SELECT k, v, 'cost: $1' FROM kv WHERE k = $1 AND v = $2 AND v + $2 = 14 -- $3",
			"a", 7).Scan(&k, &v, &lit)
		if err != nil || k != "a" || v != 7 || lit != "cost: $1" {
			t.Errorf("got %q %d %q, %v", k, v, lit, err)
		}
	})
}

func TestCRUD(t *testing.T) {
	eachKV(t, func(t *testing.T, ctx context.Context, db *store.DB) {
		blob := []byte{0, 1, 2, 0xff, 0}
		err := db.Tx(ctx, func(tx *store.Tx) error {
			for i, k := range []string{"a", "b", "c"} {
				if _, err := tx.Exec(ctx, "INSERT INTO kv (k, v, b) VALUES ($1, $2, $3)", k, i, blob); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(tx *store.Tx) error {
			var b []byte
			var v int64
			if err := tx.QueryRow(ctx, "SELECT v, b FROM kv WHERE k = $1", "b").Scan(&v, &b); err != nil {
				return err
			}
			if v != 1 || string(b) != string(blob) {
				t.Errorf("read %d %x, want 1 %x", v, b, blob)
			}
			r, err := tx.Exec(ctx, "UPDATE kv SET v = v + 10 WHERE k <> $1", "b")
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n != 2 {
				t.Errorf("UPDATE affected %d rows, want 2", n)
			}
			_, err = tx.Exec(ctx, "DELETE FROM kv WHERE k = $1", "b")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(ctx, "SELECT k, v FROM kv ORDER BY k")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var k string
			var v int64
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s=%d", k, v))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != "a=10 c=12" {
			t.Errorf("rows %q, want a=10 c=12", got)
		}
		var v int64
		err = db.QueryRow(ctx, "SELECT v FROM kv WHERE k = $1", "b").Scan(&v)
		if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, sql.ErrNoRows) {
			t.Errorf("deleted row: %v, want ErrNotFound and sql.ErrNoRows", err)
		}
		err = db.Tx(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, "SELECT v FROM kv WHERE k = $1", "zz").Scan(&v)
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing row in Tx: %v, want ErrNotFound", err)
		}
	})
}

func count(t testing.TB, db *store.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRollbackOnError(t *testing.T) {
	eachKV(t, func(t *testing.T, ctx context.Context, db *store.DB) {
		errStop := errors.New("stop")
		calls := 0
		err := db.Tx(ctx, func(tx *store.Tx) error {
			calls++
			if _, err := tx.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('x', 1)"); err != nil {
				return err
			}
			return errStop
		})
		if err != errStop {
			t.Errorf("Tx = %v, want the function's error as is", err)
		}
		if calls != 1 {
			t.Errorf("function ran %d times, want 1", calls)
		}
		if n := count(t, db, "kv"); n != 0 {
			t.Errorf("%d rows after rollback", n)
		}
	})
}

func TestRollbackOnPanic(t *testing.T) {
	eachKV(t, func(t *testing.T, ctx context.Context, db *store.DB) {
		for range 3 { // and the DB stays usable: no lock or connection left
			func() {
				defer func() {
					if r := recover(); r != "boom" {
						t.Errorf("recovered %v, want the panic to go on", r)
					}
				}()
				db.Tx(ctx, func(tx *store.Tx) error {
					if _, err := tx.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('x', 1)"); err != nil {
						return err
					}
					panic("boom")
				})
			}()
		}
		if n := count(t, db, "kv"); n != 0 {
			t.Errorf("%d rows after panic", n)
		}
		if err := db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO kv (k, v) VALUES ('x', 1)")
			return err
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConflict(t *testing.T) {
	eachKV(t, func(t *testing.T, ctx context.Context, db *store.DB) {
		insert := func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO kv (k, v) VALUES ($1, $2)", "tid-1", 1)
			return err
		}
		if err := db.Tx(ctx, insert); err != nil {
			t.Fatal(err)
		}
		err := db.Tx(ctx, insert)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second insert: %v, want ErrConflict", err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO kv (k, v) VALUES ($1, $2)", "tid-1", 2); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second insert outside Tx: %v, want ErrConflict", err)
		}
		// Insert unless present: no error, and RowsAffected tells.
		err = db.Tx(ctx, func(tx *store.Tx) error {
			r, err := tx.Exec(ctx, "INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING", "tid-1", 3)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n != 0 {
				t.Errorf("ON CONFLICT DO NOTHING affected %d rows", n)
			}
			// and the transaction goes on, on both back ends
			_, err = tx.Exec(ctx, "INSERT INTO kv (k, v) VALUES ($1, $2)", "tid-2", 4)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var v int64
		if err := db.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'tid-1'").Scan(&v); err != nil || v != 1 {
			t.Errorf("tid-1 = %d, %v; want 1", v, err)
		}
		if n := count(t, db, "kv"); n != 2 {
			t.Errorf("%d rows, want 2", n)
		}
	})
}

// TestUseOnce is the "use this TID" pattern under contention: of many
// concurrent transactions recording the same use, exactly one succeeds and
// the others see ErrConflict, whether or not they looked first.
func TestUseOnce(t *testing.T) {
	eachKV(t, func(t *testing.T, ctx context.Context, db *store.DB) {
		for _, lookFirst := range []bool{false, true} {
			key := "plain"
			if lookFirst {
				key = "look-first"
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, conflicts := 0, 0
			for i := range 16 {
				wg.Go(func() {
					err := db.Tx(ctx, func(tx *store.Tx) error {
						if lookFirst {
							var n int64
							if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM kv WHERE k = $1", key).Scan(&n); err != nil {
								return err
							}
							if n > 0 {
								return store.ErrConflict
							}
						}
						_, err := tx.Exec(ctx, "INSERT INTO kv (k, v) VALUES ($1, $2)", key, i)
						return err
					})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, store.ErrConflict):
						conflicts++
					default:
						t.Errorf("%s: %v", key, err)
					}
				})
			}
			wg.Wait()
			if ok != 1 || conflicts != 15 {
				t.Errorf("%s: %d succeeded, %d conflicts; want 1, 15", key, ok, conflicts)
			}
		}
	})
}
