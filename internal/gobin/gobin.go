// Package gobin finds the go command for tests that build or list
// packages.
package gobin

import (
	"os"
	"os/exec"
	"testing"
)

// Path returns the go command on $PATH. Without one it skips t on a
// developer's machine and fails it under CI (CI=true).
func Path(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no go command: ", err)
		}
		t.Skip("no go command: ", err)
	}
	return goBin
}
