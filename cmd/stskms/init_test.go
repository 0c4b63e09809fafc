package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// entries lists dir ("" if it does not exist).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

const twoOfficers = "alice=correct horse battery\nbob=staple staple staple\n"

// TestFailedInitLeavesNothing: a refused or failed sm init and kmc init
// leave their directory as it was — absent, or empty — and the corrected
// command then succeeds.
func TestFailedInitLeavesNothing(t *testing.T) {
	type try struct {
		stdin string
		args  []string
	}
	for _, tt := range []struct {
		name          string
		bad, good     try
		wantErrSubstr string
	}{
		{"sm init, one officer",
			try{"alice=correct horse battery\n", []string{"sm", "init", "--variant", "vending"}},
			try{twoOfficers, []string{"sm", "init", "--variant", "vending"}}, "2 officers"},
		{"sm init, short passphrase",
			try{"alice=correct horse battery\nbob=short\n", []string{"sm", "init", "--variant", "vending"}},
			try{twoOfficers, []string{"sm", "init", "--variant", "vending"}}, "shorter"},
		{"sm init, unusable database",
			try{"", []string{"sm", "init", "--variant", "vending", "--test", "--dsn", "sqlite:/nonexistent-dir/x/sm.db"}},
			try{"", []string{"sm", "init", "--variant", "vending", "--test"}}, ""},
		{"kmc init, one officer",
			try{"correct horse battery\n", []string{"kmc", "init", "--mode", "live", "--vendor", "V", "--id", "K1", "--officers", "alice"}},
			try{"correct horse battery\nstaple staple staple\n", []string{"kmc", "init", "--mode", "live", "--vendor", "V", "--id", "K1", "--officers", "alice,bob"}}, "2 officers"},
		{"kmc init, unusable database",
			try{"", []string{"kmc", "init", "--mode", "test", "--db", "sqlite:/nonexistent-dir/x/kmc.db"}},
			try{"", []string{"kmc", "init", "--mode", "test"}}, ""},
	} {
		for _, existing := range []bool{false, true} {
			dir := filepath.Join(t.TempDir(), "d")
			if existing {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := stskms(tt.bad.stdin, append(tt.bad.args, "--dir", dir)...)
			if code == 0 || !strings.Contains(errOut, tt.wantErrSubstr) {
				t.Errorf("%s: exit %d, %q, %q", tt.name, code, out, errOut)
			}
			if _, err := os.Stat(dir); existing == os.IsNotExist(err) {
				t.Errorf("%s (directory existed: %v): afterwards it exists: %v", tt.name, existing, err == nil)
			}
			if left := entries(t, dir); len(left) > 0 {
				t.Errorf("%s: left %v behind", tt.name, left)
			}
			if code, _, errOut := stskms(tt.good.stdin, append(tt.good.args, "--dir", dir)...); code != 0 {
				t.Errorf("%s: the corrected init failed: %s", tt.name, errOut)
			}
		}
	}
}

// TestInitRefusesUsedDirectory: init never touches a directory that holds
// anything.
func TestInitRefusesUsedDirectory(t *testing.T) {
	for _, args := range [][]string{
		{"sm", "init", "--variant", "vending", "--test"},
		{"kmc", "init", "--mode", "test"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "mine"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := stskms("", append(args, "--dir", dir)...)
		if code == 0 || !strings.Contains(errOut, "not empty") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
		if left := entries(t, dir); !slices.Equal(left, []string{"mine"}) {
			t.Errorf("%v: directory now holds %v", args, left)
		}
	}
}

// TestGatewayAdminRefusesEmptyDir: the queue and block commands on a
// directory (or SQLite file) that holds no gateway refuse, and create
// nothing.
func TestGatewayAdminRefusesEmptyDir(t *testing.T) {
	kmcDir := initTestKMC(t)
	before := entries(t, kmcDir)
	for _, dir := range []string{t.TempDir(), kmcDir} {
		for _, args := range [][]string{
			{"gateway", "queue", "list"}, {"gateway", "queue", "retry", "--failed"}, {"gateway", "queue", "retry", "7"},
			{"gateway", "queue", "purge", "--older-than", "1h"},
			{"gateway", "blocks"}, {"gateway", "bounces"}, {"gateway", "unblock", "addr:a@b.test"},
		} {
			n := 2 // after the command's name: flags come before arguments
			if args[1] == "queue" {
				n = 3
			}
			args = append(append(append([]string(nil), args[:n]...), "--dir", dir), args[n:]...)
			code, out, errOut := stskms("", args...)
			if code == 0 || !strings.Contains(errOut, "no gateway") {
				t.Errorf("%v --dir %s: exit %d, %q, %q", args, dir, code, out, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, "gateway.db")); !os.IsNotExist(err) {
				t.Fatalf("%v made %s/gateway.db", args, dir)
			}
		}
	}
	if after := entries(t, kmcDir); !slices.Equal(before, after) {
		t.Errorf("the KMC directory changed: %v, now %v", before, after)
	}
	// On a gateway's database they work.
	db := gatewayQueueDB(t)
	if code, out, errOut := stskms("", "gateway", "blocks", "--db", db); code != 0 || out != "" {
		t.Errorf("gateway blocks on a gateway's database: exit %d, %q, %q", code, out, errOut)
	}
	if code, _, errOut := stskms("", "gateway", "unblock", "--db", db, "addr:alice@example.com"); code == 0 || !strings.Contains(errOut, "no block on addr:alice@example.com") {
		t.Errorf("gateway unblock of nothing: exit %d, %q", code, errOut)
	}
	missing := filepath.Join(t.TempDir(), "gw.db")
	if code, _, errOut := stskms("", "gateway", "queue", "list", "--db", "sqlite:"+missing); code == 0 || !strings.Contains(errOut, "no gateway") {
		t.Errorf("--db sqlite:%s: exit %d, %q", missing, code, errOut)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("gateway queue list made %s", missing)
	}
}

// TestDemoKeepRefusesUsedDirectory: demo --keep on a used directory says
// so and exits non-zero, leaving it as it was.
func TestDemoKeepRefusesUsedDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := stskms("", "demo", "--keep", dir)
	if code == 0 || !strings.Contains(errOut, "not empty") || strings.Contains(errOut, "panic") {
		t.Errorf("demo --keep on a used directory: exit %d, %q, %q", code, out, errOut)
	}
	if left := entries(t, dir); !slices.Equal(left, []string{"mine"}) {
		t.Errorf("directory now holds %v", left)
	}
}
