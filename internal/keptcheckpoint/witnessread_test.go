package keptcheckpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLastWitnessed: the last well-formed checkpoint of the log's own
// origin is found in a witness file shared with other logs, past a torn
// tail and beyond the first tail read; none in a missing file.
func TestLastWitnessed(t *testing.T) {
	other := "stskms/audit/11\n9\nBBBB\n\n— stskms/audit/11 c2ln\n"
	filler := strings.Repeat(other+"\n", 200) // more than the first tail read
	w := filepath.Join(t.TempDir(), "witness")
	text := string(cp("3")) + "\n" + string(cp("7")) + "\n" + filler + "stskms/audit/00\n8\n" // torn: no root, no signature
	if err := os.WriteFile(w, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := lastWitnessed(w, "stskms/audit/00")
	if err != nil || string(got) != string(cp("7")) {
		t.Fatalf("got %q, %v; want the checkpoint of 7", got, err)
	}
	if got, err := lastWitnessed(w, "stskms/audit/22"); got != nil || err != nil {
		t.Fatalf("another origin: %q, %v", got, err)
	}
	if got, err := lastWitnessed(filepath.Join(t.TempDir(), "none"), "stskms/audit/00"); got != nil || err != nil {
		t.Fatalf("missing file: %q, %v", got, err)
	}
}
