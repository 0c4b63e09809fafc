package loop_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/sts/sta"
)

// TestLoop is the CI test of the whole loop (issue 8): every step ends as
// expected, in seconds.
func TestLoop(t *testing.T) {
	runLoop(t, loop.Options{Dir: filepath.Join(t.TempDir(), "loop"), MailTimeout: 20 * time.Second}, "DKGA04 + MISTY1")
}

// TestLoopEA07: with STA tables (here the public test tables) the same loop
// runs DKGA02 + EA07 from the KMC's key to the meter.
func TestLoopEA07(t *testing.T) {
	runLoop(t, loop.Options{Dir: filepath.Join(t.TempDir(), "loop"), MailTimeout: 20 * time.Second,
		STATables: sta.TestTables()}, "DKGA02 + STA")
}

func runLoop(t *testing.T, o loop.Options, suite string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	steps, err := loop.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		t.Logf("ok=%v %-50s %s %v (%v)", s.OK, s.Name, s.Outcome, s.Tokens, s.Duration.Round(time.Millisecond))
	}
	if loop.Failed(steps) {
		t.Fatal("a step failed")
	}
	if len(steps) != 14 {
		t.Fatalf("%d steps, want 14", len(steps))
	}
	if !strings.Contains(steps[7].Name, suite) {
		t.Errorf("step %q, want the suite %s", steps[7].Name, suite)
	}
	t.Logf("whole loop: %v", time.Since(start).Round(time.Millisecond))
}

// TestLoopTempDir: without Dir the loop works in a temporary directory and
// removes it.
func TestLoopTempDir(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	steps, err := loop.Run(context.Background(), loop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if loop.Failed(steps) {
		t.Fatalf("steps %+v", steps)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
