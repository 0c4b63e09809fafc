package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/store"
)

// TestSelftestLoop: an on-demand self-test of the serving process finds
// stored state changed behind the module's back, says so, and puts the
// module in its error state, in which it refuses service with the
// reason.
func TestSelftestLoop(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sm")
	m, err := apitest.Setup(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pr, pw := io.Pipe()
	now := make(chan os.Signal)
	loopCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { selftestLoop(loopCtx, m, time.Hour, now, pw); close(done) }()
	defer func() { cancel(); pr.Close(); <-done }()

	out := bufio.NewReader(pr)
	// A passing run leaves the module serving.
	now <- os.Interrupt
	if line, err := out.ReadString('\n'); err != nil || !strings.Contains(line, "self-test passed") {
		t.Fatalf("the loop said %q, %v", line, err)
	}
	if err := m.Fault(); err != nil {
		t.Fatalf("fault after a passing self-test: %v", err)
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "sm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `UPDATE sm_register SET ken = 7`); err != nil {
		t.Fatal(err)
	}
	now <- os.Interrupt
	line, err := out.ReadString('\n')
	if err != nil || !strings.Contains(line, "SELF-TEST FAILED") || !strings.Contains(line, "self-test registers failed") {
		t.Fatalf("the loop said %q, %v", line, err)
	}
	if _, err := m.Registers(ctx, sm.Auditor.As("t")); err == nil || !strings.Contains(err.Error(), "module in error state") {
		t.Fatalf("Registers in the error state = %v", err)
	}
}
