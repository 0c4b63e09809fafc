package audit_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
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
	if path := os.Getenv(crashChild); path != "" {
		runCrashChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	reported := map[int64]bool{}
	const rounds = 3
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChild+"="+path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		killAfter := 30 + rand.IntN(100) // reported commits
		lines, killed := 0, false
		for sc.Scan() {
			seq, err := strconv.ParseInt(strings.TrimPrefix(sc.Text(), "committed "), 10, 64)
			if err != nil {
				continue // not ours (the test framework's output)
			}
			if reported[seq] {
				t.Errorf("round %d: seq %d reported twice", round, seq)
			}
			reported[seq] = true
			if lines++; lines == killAfter && !killed {
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child stopped after %d commits: %v\n%s", round, lines, err, stderr.String())
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, not by SIGKILL\n%s", round, cmd.ProcessState, stderr.String())
		}
	}

	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify after crashes: %v", err)
	}
	lost := 0
	for seq := range reported {
		if seq < 1 || seq > rep.Records {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d records reported committed are missing", lost, len(reported))
	}
	if extra := rep.Records - int64(len(reported)); extra < 0 || extra > rounds*crashWorkers {
		t.Errorf("%d records, %d reported: %d committed but unreported, want at most %d",
			rep.Records, len(reported), extra, rounds*crashWorkers)
	}
	if used, audited := creditUsed(t, db), auditedCredit(t, l); used != audited {
		t.Errorf("credit used %d, audited tokens sum to %d", used, audited)
	}
	t.Logf("%d rounds: %d records reported committed, %d in the log", rounds, len(reported), rep.Records)
}

// runCrashChild issues audited spends from crashWorkers goroutines and
// writes "committed SEQ" to stdout after each commit, until killed. It gives
// up on its own after a while, or when its parent stops reading.
func runCrashChild(t *testing.T, path string) {
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "audittest", creditSchema); err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for range crashWorkers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				r, err := issue(ctx, l, 1+rand.Int64N(10000), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := fmt.Fprintf(os.Stdout, "committed %d\n", r.Seq); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}
