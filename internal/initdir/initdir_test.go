package initdir_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/internal/initdir"
)

func fill(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "keystore", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keystore", "sub", "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sm.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestUndoRemovesACreatedDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	d, err := initdir.Prepare(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("made %v, %v", st, err)
	}
	fill(t, dir)
	err = errors.New("init failed")
	d.UndoOnError(&err)
	if _, serr := os.Stat(dir); !os.IsNotExist(serr) || err.Error() != "init failed" {
		t.Errorf("after Undo: %v, err %v", serr, err)
	}
}

func TestUndoEmptiesAGivenDirectory(t *testing.T) {
	dir := t.TempDir()
	d, err := initdir.Prepare(dir)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, dir)
	err = errors.New("init failed")
	d.UndoOnError(&err)
	entries, rerr := os.ReadDir(dir)
	if rerr != nil || len(entries) != 0 {
		t.Errorf("after Undo: %v, %v", entries, rerr)
	}
}

func TestNoUndoOnSuccess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	d, err := initdir.Prepare(dir)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, dir)
	var ok error
	d.UndoOnError(&ok)
	if _, err := os.Stat(filepath.Join(dir, "sm.db")); err != nil {
		t.Errorf("a successful init lost its files: %v", err)
	}
}

func TestPrepareRefusesAUsedDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := initdir.Prepare(dir); !errors.Is(err, initdir.ErrNotEmpty) {
		t.Errorf("Prepare of a used directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mine")); err != nil {
		t.Errorf("the directory's file: %v", err)
	}
	if _, err := initdir.Prepare(filepath.Join(dir, "no", "parent")); err == nil {
		t.Error("Prepare made missing parents")
	}
	file := filepath.Join(dir, "mine")
	if _, err := initdir.Prepare(file); err == nil {
		t.Error("Prepare accepted a regular file")
	}
}
