package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) {
	testscript.Main(storetestM{m}, map[string]func(){
		"stskms": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// storetestM runs the tests under storetest, which stops the PostgreSQL
// server of the tests that use one (storetest.Each) when they are done.
type storetestM struct{ m *testing.M }

func (s storetestM) Run() int { return storetest.Run(s.m) }

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
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport": cmdFreePort,
			"grab":     cmdGrab,
		},
	})
}

// cmdFreePort sets each named variable to a 127.0.0.1 address that nothing
// listens on (for servers a script starts in the background).
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: freeport VAR...")
	}
	for _, name := range args {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		ts.Setenv(name, l.Addr().String())
		ts.Check(l.Close())
	}
}

// cmdGrab sets a variable to the first submatch of a regular expression in
// the last command's standard output: grab VAR REGEXP.
func cmdGrab(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: grab VAR REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("grab: no match for %q in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}
