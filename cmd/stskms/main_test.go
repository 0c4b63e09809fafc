package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"stskms": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI contract as a user types it: the txtar files in
// testdata/script. Each script finds the EA07 test tables (not the
// production ones) at $WORK/sta-test-tables.json.
func TestScripts(t *testing.T) {
	tables, err := os.ReadFile("../../sts/sta/testdata/sta-test-tables.json")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("STSKMS_STA_TABLES", "")
			env.Setenv("GORACE", "atexit_sleep_ms=0") // race-built children need not linger 1 s
			return os.WriteFile(filepath.Join(env.WorkDir, "sta-test-tables.json"), tables, 0o644)
		},
	})
}
