// Package backuptest copies a component's database files for tests of a
// restored backup.
package backuptest

import (
	"os"
	"path/filepath"
	"testing"
)

// Copy copies the files in directory from that match pattern (a database
// and its journal, e.g. "sm.db*") to directory to, replacing those there
// that match it: a backup, or its restore. It fails t if from has none.
func Copy(t testing.TB, from, to, pattern string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(to, pattern))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(from, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no database in %s: %v", from, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil {
			err = os.WriteFile(filepath.Join(to, filepath.Base(p)), b, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
