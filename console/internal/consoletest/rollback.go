package consoletest

import (
	"context"
	"errors"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/backuptest"
	"github.com/stskms/stskms/sm"
)

// RolledBack closes the module m in dir and opens it again on a copy of
// its database made before it last ran: the module it returns, closed
// when the test ends, is in its error state, its database rolled back
// behind the kept audit checkpoint.
func RolledBack(t *testing.T, m *sm.Module, dir string) *sm.Module {
	t.Helper()
	ctx := context.Background()
	m.Close()
	files, backup := sm.DatabaseFile+"*", t.TempDir()
	backuptest.Copy(t, dir, backup, files)
	m, err := sm.Open(ctx, dir, sm.Options{}) // its start and close grow the log and the kept checkpoint
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	backuptest.Copy(t, backup, dir, files)
	if m, err = sm.Open(ctx, dir, sm.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if !errors.Is(m.Fault(), audit.ErrRolledBack) {
		t.Fatalf("fault %v, want a rolled-back database", m.Fault())
	}
	return m
}
