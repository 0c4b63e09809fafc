// Package testfile writes the files tests hand to the code under test:
// secret files (PIN files, token files, credentials) whose mode is part
// of what is tested. It is for tests only and imports the standard
// library alone, so that every package's tests may use it.
package testfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Write writes data to the file dir/name, replacing it, with exactly mode
// (whatever the umask), and returns its path; it fails tb if it cannot.
func Write(tb testing.TB, dir, name, data string, mode os.FileMode) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	// Removed first: a file of an earlier Write may be read-only.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatal(err)
	}
	return path
}
