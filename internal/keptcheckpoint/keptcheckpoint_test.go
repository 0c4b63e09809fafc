package keptcheckpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func cp(size string) []byte {
	return []byte("stskms/audit/00\n" + size + "\nAAAA\n\n— stskms/audit/00 c2ln\n")
}

// TestKeeperKeepsHighest: a smaller checkpoint never replaces a larger one
// unless forced; every kept one reaches the witness; a file that is not a
// checkpoint is refused.
func TestKeeperKeepsHighest(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(t.TempDir(), "witness")
	k := New(dir, w)
	if b, err := k.Load(); b != nil || err != nil || k.Kept() != -1 {
		t.Fatalf("empty: %q, %v, %d", b, err, k.Kept())
	}
	for _, step := range []struct {
		size  string
		force bool
		want  int64
	}{{"5", false, 5}, {"3", false, 5}, {"9", false, 9}, {"4", true, 4}} {
		if err := k.Keep(cp(step.size), step.force); err != nil {
			t.Fatal(err)
		}
		if k.Kept() != step.want {
			t.Fatalf("after %s (force %v): kept %d, want %d", step.size, step.force, k.Kept(), step.want)
		}
	}
	if b, err := New(dir).Load(); err != nil || !bytes.Equal(b, cp("4")) {
		t.Fatalf("reloaded: %q, %v", b, err)
	}
	got, err := os.ReadFile(w)
	if err != nil || bytes.Count(got, []byte("\n— ")) != 3 {
		t.Fatalf("witness has %q, %v; want the three kept", got, err)
	}
	for _, bad := range []string{"", "one line", "o\n-1\nr\n", "o\nx\nr\n"} {
		if err := k.Keep([]byte(bad), true); err == nil {
			t.Errorf("kept %q", bad)
		}
	}
	if k.Kept() != 4 {
		t.Fatalf("a refused checkpoint changed the kept size to %d", k.Kept())
	}
}
