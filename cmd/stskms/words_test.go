package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestMissingDirIsUsage: a command run without the directory it needs is
// a usage error everywhere: exit status 2 and words naming --dir, never a
// refusal's status 1.
func TestMissingDirIsUsage(t *testing.T) {
	for _, name := range []string{"STSKMS_SM_DIR", "STSKMS_KMC_DIR", "STSKMS_CONFIG"} {
		t.Setenv(name, "")
	}
	for _, cmd := range []string{
		"sm identify", "sm registers", "sm init --variant vending --test", "sm vend credit --pan 600727000000000009 --sgc 123456 --amount 1",
		"kmc sgc list", "kmc kua list", "kmc testsm request", "gateway queue list", "audit verify",
	} {
		var out, errOut bytes.Buffer
		code := run(strings.Fields(cmd), strings.NewReader(""), &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), "--dir") {
			t.Errorf("stskms %s: exit %d, %q", cmd, code, errOut.String())
		}
	}
}

// TestHelpCommand: "stskms help sm" shows sm's help, as "stskms sm
// --help" does.
func TestHelpCommand(t *testing.T) {
	for _, args := range [][]string{{"help", "sm"}, {"help", "kmc", "kua"}} {
		var out, want bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &out); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		run(append(args[1:], "--help"), strings.NewReader(""), &want, &want)
		if out.String() != want.String() || !strings.HasPrefix(out.String(), "Usage: stskms "+strings.Join(args[1:], " ")) {
			t.Errorf("%v:\n%s\nwant\n%s", args, out.String(), want.String())
		}
	}
}
