package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/backup"
	"github.com/stskms/stskms/internal/backuptest"
)

// TestBackupRestoreCommands: kmc backup and restore of a live KMC from the
// command line — the restore needs both officers, refuses a directory
// that holds anything and a tampered file, leaving nothing; sm backup and
// restore of a module likewise.
func TestBackupRestoreCommands(t *testing.T) {
	const officers = "correct horse battery\nstaple tuna mirror 42\n"
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "kmc")
	if rc, out, errOut := stskms(officers, "kmc", "init", "--dir", dir, "--mode", "live", "--vendor", "Utility", "--id", "K1",
		"--officers", "alice,bob"); rc != 0 {
		t.Fatalf("kmc init: %d %s %s", rc, out, errOut)
	}
	file := filepath.Join(tmp, "kmc.backup")
	out, _ := mustRunCLI(t, 0, "kmc", "backup", "--dir", dir, "--out", file)
	if !strings.Contains(out, "kmc Utility-K1") || !strings.Contains(out, "sqlite database") {
		t.Fatalf("backup said %q", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	mustRunCLI(t, 1, "kmc", "backup", "--dir", dir, "--out", file) // never overwritten

	restored := filepath.Join(tmp, "restored")
	if rc, out, errOut := stskms("correct horse battery\n", "kmc", "restore", "--in", file, "--dir", restored, "--officers", "alice"); rc == 0 {
		t.Fatalf("restored by one officer: %s %s", out, errOut)
	}
	tampered := backuptest.Tampered(t, file, 300)
	if rc, _, errOut := stskms(officers, "kmc", "restore", "--in", tampered, "--dir", restored, "--officers", "alice,bob"); rc == 0 ||
		!strings.Contains(errOut, "backup:") {
		t.Fatalf("tampered backup restored: %s", errOut)
	}
	if _, err := os.Stat(restored); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s: %v", restored, err)
	}
	rc, out, errOut := stskms(officers, "kmc", "restore", "--in", file, "--dir", restored, "--officers", "alice,bob")
	if rc != 0 || !strings.Contains(out, "restored as instance") {
		t.Fatalf("kmc restore: %d %s %s", rc, out, errOut)
	}
	if rc, _, errOut := stskms(officers, "kmc", "restore", "--in", file, "--dir", restored, "--officers", "alice,bob"); rc == 0 ||
		!strings.Contains(errOut, "must not exist or be empty") {
		t.Fatalf("restore over a KMC: %s", errOut)
	}
	if rc, out, errOut := stskms(officers, "kmc", "key", "list", "--dir", restored, "--officers", "alice,bob"); rc != 0 {
		t.Fatalf("restored KMC: %d %s %s", rc, out, errOut)
	}

	sm := filepath.Join(tmp, "sm")
	mustRunCLI(t, 0, "sm", "init", "--dir", sm, "--variant", "vending", "--test")
	if err := os.WriteFile(filepath.Join(sm, "pin"), []byte("123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRunCLI(t, 0, "sm", "backup", "--dir", sm, "--out", filepath.Join(tmp, "sm.backup"))
	f, err := os.Open(filepath.Join(tmp, "sm.backup"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.ReadManifest(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, mem := range m.Members {
		if mem.Name == "pin" || mem.Name == "keystore/audit-checkpoint" || strings.HasPrefix(mem.Name, "sm.db") {
			t.Errorf("the backup holds %s", mem.Name)
		}
	}
	out, _ = mustRunCLI(t, 0, "sm", "restore", "--in", filepath.Join(tmp, "sm.backup"), "--dir", filepath.Join(tmp, "sm2"))
	if !strings.Contains(out, "no TID up to") {
		t.Fatalf("sm restore said %q", out)
	}
	mustRunCLI(t, 1, "kmc", "restore", "--in", filepath.Join(tmp, "sm.backup"), "--dir", filepath.Join(tmp, "k3"))
}
