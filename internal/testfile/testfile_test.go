package testfile_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/stskms/stskms/internal/testfile"
)

// TestWrite: the file holds the data and has exactly the mode asked for,
// also one the usual umask would clear; a later Write replaces the file,
// also a read-only one.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o400, 0o666} {
		data := "mode " + strconv.FormatUint(uint64(mode), 8)
		path := testfile.Write(t, dir, "f", data, mode)
		if b, err := os.ReadFile(path); err != nil || string(b) != data {
			t.Errorf("read %q, %v; want %q", b, err, data)
		}
		if st, err := os.Stat(path); err != nil {
			t.Error(err)
		} else if st.Mode().Perm() != mode {
			t.Errorf("mode %04o, want %04o", st.Mode().Perm(), mode)
		}
	}
}
