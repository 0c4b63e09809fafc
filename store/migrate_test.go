package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

var steps = []store.Migration{
	{Version: 1, Name: "accounts", SQL: `CREATE TABLE accounts (id {{autoid}}, name TEXT NOT NULL UNIQUE, key {{blob}})`},
	{Version: 2, Name: "limits", SQL: `
		CREATE TABLE limits (account BIGINT NOT NULL REFERENCES accounts (id), amount BIGINT NOT NULL);
		CREATE INDEX limits_account ON limits (account);`},
	{Version: 3, Name: "seed", Func: func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO accounts (name, key) VALUES ($1, $2)", "first", []byte{1, 2})
		return err
	}},
}

func version(t *testing.T, db *store.DB, component string) int {
	t.Helper()
	v, err := db.Version(context.Background(), component)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if v := version(t, db, "kmc"); v != 0 {
			t.Fatalf("new database at version %d", v)
		}
		if err := db.Migrate(ctx, "kmc", steps[:2]); err != nil {
			t.Fatal(err)
		}
		if v := version(t, db, "kmc"); v != 2 {
			t.Fatalf("version %d after 2 steps", v)
		}
		// Again, and with one more step: only that one runs.
		for range 2 {
			if err := db.Migrate(ctx, "kmc", steps); err != nil {
				t.Fatal(err)
			}
		}
		if v := version(t, db, "kmc"); v != 3 {
			t.Fatalf("version %d after 3 steps", v)
		}
		if n := count(t, db, "accounts"); n != 1 {
			t.Errorf("%d accounts, want 1 (the data step ran once)", n)
		}
		if n := count(t, db, "schema_migrations"); n != 3 {
			t.Errorf("%d rows in schema_migrations, want 3", n)
		}
		var name, at string
		if err := db.QueryRow(ctx, "SELECT name, applied_at FROM schema_migrations WHERE component = $1 AND version = $2",
			"kmc", 2).Scan(&name, &at); err != nil || name != "limits" || at == "" {
			t.Errorf("record of step 2: %q %q, %v", name, at, err)
		}
		// The foreign key is enforced (SQLite: foreign_keys=on).
		if _, err := db.Exec(ctx, "INSERT INTO limits (account, amount) VALUES (999, 1)"); err == nil {
			t.Error("row referring to no account was accepted")
		}

		// Components are independent.
		if err := db.Migrate(ctx, "audit", []store.Migration{{Version: 1, Name: "log",
			SQL: "CREATE TABLE log (seq BIGINT PRIMARY KEY, rec {{blob}} NOT NULL)"}}); err != nil {
			t.Fatal(err)
		}
		if v := version(t, db, "audit"); v != 1 {
			t.Errorf("audit at version %d", v)
		}

		// An older program refuses the database and leaves it alone.
		for _, old := range [][]store.Migration{steps[:2], nil} {
			err := db.Migrate(ctx, "kmc", old)
			var ve *store.VersionError
			if !errors.Is(err, store.ErrSchemaTooNew) || !errors.As(err, &ve) {
				t.Fatalf("Migrate with %d steps: %v, want ErrSchemaTooNew", len(old), err)
			}
			if ve.Component != "kmc" || ve.Database != 3 || ve.Program != len(old) {
				t.Errorf("VersionError %+v", ve)
			}
		}
		if v := version(t, db, "kmc"); v != 3 {
			t.Errorf("version %d after refusal", v)
		}
	})
}

func TestMigrateFailedStep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bad := []store.Migration{
			steps[0],
			{Version: 2, Name: "half", SQL: "CREATE TABLE half (x BIGINT); CREATE TABLE broken (x NOSUCHTYPE"},
		}
		err := db.Migrate(ctx, "kmc", bad)
		if err == nil || !strings.Contains(err.Error(), "version 2 (half)") {
			t.Fatalf("Migrate = %v, want a failure of step 2", err)
		}
		if v := version(t, db, "kmc"); v != 1 {
			t.Errorf("version %d, want 1", v)
		}
		// Step 2 left nothing behind: it can be fixed and run.
		fixed := append(bad[:1:1], store.Migration{Version: 2, Name: "half", SQL: "CREATE TABLE half (x BIGINT)"})
		if err := db.Migrate(ctx, "kmc", fixed); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMigrateBadSteps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, s := range [][]store.Migration{
			{{Version: 2, Name: "gap", SQL: "CREATE TABLE x (a BIGINT)"}},
			{{Version: 1, SQL: "CREATE TABLE x (a BIGINT)"}},
			{{Version: 1, Name: "t", SQL: "CREATE TABLE x (a {{nosuch}})"}},
		} {
			if err := db.Migrate(ctx, "c", s); err == nil {
				t.Errorf("Migrate(%+v) succeeded", s)
			}
		}
		if err := db.Migrate(ctx, "", steps); err == nil {
			t.Error("Migrate with no component succeeded")
		}
	})
}

// TestMigrateConcurrent runs migrators from several handles at once, as
// processes starting together would: each step is applied exactly once
// (CREATE TABLE without IF NOT EXISTS would fail a second time, and the
// seed would be doubled) and none of them fails.
func TestMigrateConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for range 4 {
			other := storetest.Reopen(t, db)
			wg.Go(func() {
				if err := other.Migrate(ctx, "kmc", steps); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if v := version(t, db, "kmc"); v != 3 {
			t.Errorf("version %d", v)
		}
		if n := count(t, db, "accounts"); n != 1 {
			t.Errorf("%d accounts, want 1", n)
		}
	})
}
