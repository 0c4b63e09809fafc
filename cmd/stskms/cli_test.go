package main

import (
	"strings"
	"testing"
)

// mustRunCLI runs stskms with args (runCLI), fails t unless it exits with
// want, and returns its standard output and error.
func mustRunCLI(t testing.TB, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, out, errOut := runCLI(args...)
	if code != want {
		t.Fatalf("stskms %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}
