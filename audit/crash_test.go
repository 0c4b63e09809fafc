package audit_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/crashtest"
	"github.com/stskms/stskms/store/storetest"
)

// crashChild names the environment variable that makes TestCrash the child:
// it then issues audited "tokens" in the SQLite file it names until killed.
const crashChild = "STSKMS_AUDIT_CRASH_CHILD"

const crashWorkers = 4

// TestCrash kills (SIGKILL) a child process that spends credit and audits
// each spend in the same transaction, from several goroutines, reporting
// each commit's Seq on a pipe; three times over. Reopened, the log holds
// every record reported committed, the chain verifies, and the credit used
// equals the sum of the audited amounts.
func TestCrash(t *testing.T) {
	if !crashtest.Parent(t, crashChild, runCrashChild) {
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	const rounds = 3
	reported := map[int64]bool{}
	crashtest.KillCommitting(t, "TestCrash", []string{crashChild + "=" + path}, rounds, func(round int, seq int64) {
		if reported[seq] {
			t.Errorf("round %d: seq %d reported twice", round, seq)
		}
		reported[seq] = true
	})

	ctx := context.Background()
	db := storetest.Open(t, path)
	l, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify after crashes: %v", err)
	}
	crashtest.CheckReported(t, "records", reported, func(seq int64) bool { return seq >= 1 && seq <= rep.Records },
		rep.Records, rounds*crashWorkers)
	if used, audited := creditUsed(t, db), auditedCredit(t, l); used != audited {
		t.Errorf("credit used %d, audited tokens sum to %d", used, audited)
	}
	t.Logf("%d rounds: %d records reported committed, %d in the log", rounds, len(reported), rep.Records)
}

// runCrashChild issues audited spends from crashWorkers goroutines and
// writes "committed SEQ" to stdout after each commit, until killed
// (crashtest.Commit).
func runCrashChild(t *testing.T, path string) {
	ctx := context.Background()
	db := storetest.Open(t, path)
	migrateCredit(t, db)
	l, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	crashtest.Commit(t, crashWorkers, func() (int64, error) {
		r, err := issue(ctx, l, 1+rand.Int64N(10000), nil)
		return r.Seq, err
	})
}
