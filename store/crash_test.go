package store_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/internal/crashtest"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// crashChild names the environment variable that makes TestCrashDurability
// the child: it then writes to the SQLite file it names until killed.
const crashChild = "STSKMS_STORE_CRASH_CHILD"

var crashSchema = []store.Migration{{Version: 1, Name: "rows", SQL: `
	CREATE TABLE rows (id {{autoid}}, payload {{blob}} NOT NULL);
	CREATE TABLE total (one BIGINT PRIMARY KEY, n BIGINT NOT NULL);
	INSERT INTO total (one, n) VALUES (1, 0);`}}

// TestCrashDurability kills (SIGKILL) a child process that commits rows from
// several goroutines and reports each commit on a pipe, three times over.
// Reopened, the database passes its integrity check, holds every row
// reported committed, and each transaction is whole (a counter updated with
// each row equals the number of rows).
//
// A killed process loses nothing the kernel has; synchronous=FULL (checked
// by TestSQLiteSettings) is what carries that through a power cut, which no
// test here can make.
func TestCrashDurability(t *testing.T) {
	if !crashtest.Parent(t, crashChild, runCrashChild) {
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	const rounds = 3
	reported := map[int64]bool{}
	crashtest.KillCommitting(t, "TestCrashDurability", []string{crashChild + "=" + path}, rounds, func(_ int, id int64) {
		reported[id] = true
	})

	ctx := context.Background()
	db := storetest.Open(t, path)
	var check string
	if err := db.QueryRow(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	present := map[int64]bool{}
	rows, err := db.Query(ctx, "SELECT id FROM rows")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		present[id] = true
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	crashtest.CheckReported(t, "rows", reported, func(id int64) bool { return present[id] },
		int64(len(present)), rounds*crashWorkers)
	var total int64
	if err := db.QueryRow(ctx, "SELECT n FROM total").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != int64(len(present)) {
		t.Errorf("total says %d rows, there are %d: a transaction was torn", total, len(present))
	}
	t.Logf("%d rounds: %d rows reported committed, %d present", rounds, len(reported), len(present))
}

const crashWorkers = 4

// runCrashChild commits rows from crashWorkers goroutines and writes
// "committed ID" to stdout after each commit, until killed
// (crashtest.Commit).
func runCrashChild(t *testing.T, path string) {
	ctx := context.Background()
	db := storetest.Open(t, path)
	if err := db.Migrate(ctx, "crash", crashSchema); err != nil {
		t.Fatal(err)
	}
	crashtest.Commit(t, crashWorkers, func() (int64, error) {
		payload := make([]byte, 512+rand.IntN(4096))
		var id int64
		err := db.Tx(ctx, func(tx *store.Tx) error {
			if err := tx.QueryRow(ctx, "INSERT INTO rows (payload) VALUES ($1) RETURNING id",
				payload).Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "UPDATE total SET n = n + 1 WHERE one = 1")
			return err
		})
		return id, err
	})
}
