package atomicfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/atomicfile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := atomicfile.Write(dir, "a.json", []byte("one"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(dir, "a.json", []byte("two"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "a.json"))
	if err != nil || string(got) != "two" {
		t.Fatalf("content %q, %v", got, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "a.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestCrashBeforeRename: a crash after the temporary file is complete
// leaves the old file as it was, and the temporary file for its owner to
// find.
func TestCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	if err := atomicfile.Write(dir, "a.json", []byte("old"), 0o600, nil); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crash")
	if err := atomicfile.Write(dir, "a.json", []byte("new"), 0o600, func() error { return crash }); !errors.Is(err, crash) {
		t.Fatalf("error %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a.json")); string(got) != "old" {
		t.Errorf("after the crash: %q", got)
	}
	temps := 0
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), atomicfile.TempPrefix) {
			temps++
		}
	}
	if temps != 1 {
		t.Errorf("%d temporary files, want 1: %v", temps, entries)
	}
}

func TestWriteMissingDir(t *testing.T) {
	if err := atomicfile.Write(filepath.Join(t.TempDir(), "none"), "a", nil, 0o600, nil); err == nil {
		t.Error("wrote into a missing directory")
	}
}
