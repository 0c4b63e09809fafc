// Package crashtest kills real processes for the project's crash tests: a
// test re-executes its own test binary as a child that works (commits,
// vends, loads keys) and reports on standard output, and the parent kills
// it with SIGKILL at a moment the reports choose, then checks what
// survived. It is for tests only.
package crashtest

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// KillChild runs the test named test of the current test binary as a child
// with env added to its environment (the variable that makes it the child
// and its arguments). Each line the child writes on standard output goes to
// onLine, also after the kill (the pipe still holds what the child wrote
// before it died); the first time onLine returns true the child is killed
// with SIGKILL, after
// a random pause of up to jitter so the kill lands anywhere in the work
// that follows. KillChild returns once the child is gone, and fails t if it
// ended before it was killed or by anything but SIGKILL.
func KillChild(t testing.TB, test string, env []string, jitter time.Duration, onLine func(line string) (kill bool)) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if onLine(sc.Text()) && !killed {
			if jitter > 0 {
				time.Sleep(rand.N(jitter))
			}
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("%s: the child stopped before it was killed: %v\n%s", test, err, stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s: the child ended with %v, not by SIGKILL\n%s", test, cmd.ProcessState, stderr.String())
	}
}

// KillCommitting runs the child rounds times and kills it, each time, after
// a random number (30 to 129) of the "committed N" lines it writes; onCommit
// gets each N with its round. Other lines (the test framework's) are
// ignored.
func KillCommitting(t testing.TB, test string, env []string, rounds int, onCommit func(round int, n int64)) {
	t.Helper()
	for round := range rounds {
		killAfter, lines := 30+rand.IntN(100), 0
		KillChild(t, test, env, 2*time.Millisecond, func(line string) bool {
			n, err := strconv.ParseInt(strings.TrimPrefix(line, "committed "), 10, 64)
			if err != nil || !strings.HasPrefix(line, "committed ") {
				return false
			}
			onCommit(round, n)
			lines++
			return lines == killAfter
		})
	}
}

// CheckReported is the parent's check after KillCommitting: it fails t
// unless every N reported committed is kept (kept(N) is true), and unless
// the count of those kept, keptCount, exceeds the reported ones by at most
// maxUnreported (commits a kill cut off before their report, at most one
// per worker and round). what names the Ns in the messages ("rows").
func CheckReported(t testing.TB, what string, reported map[int64]bool, kept func(n int64) bool, keptCount int64, maxUnreported int) {
	t.Helper()
	lost := 0
	for n := range reported {
		if !kept(n) {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d %s reported committed are missing", lost, len(reported), what)
	}
	if extra := keptCount - int64(len(reported)); extra < 0 || extra > int64(maxUnreported) {
		t.Errorf("%d %s, %d reported: %d committed but unreported, want at most %d",
			keptCount, what, len(reported), extra, maxUnreported)
	}
}

// Commit is the child's side of KillCommitting: it runs commit from
// workers goroutines, each over and over, and writes "committed N" on
// standard output after each commit that returns N, until it is killed.
// It gives up on its own after a minute, when its parent stops reading, or
// after the first error, which fails t.
func Commit(t testing.TB, workers int, commit func() (int64, error)) {
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				n, err := commit()
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := fmt.Fprintf(os.Stdout, "committed %d\n", n); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

// Parent splits a crash test into its two roles. In the child — the test
// binary re-executed by KillChild with the variable env set — it runs child
// with the variable's value and returns false; in the parent it skips a
// -short run and returns true, and the test goes on to start children.
//
//	if !crashtest.Parent(t, crashChild, runCrashChild) {
//		return
//	}
func Parent(t *testing.T, env string, child func(t *testing.T, arg string)) bool {
	t.Helper()
	if arg := os.Getenv(env); arg != "" {
		child(t, arg)
		return false
	}
	if testing.Short() {
		t.Skip("short: the crash test kills real processes")
	}
	return true
}
