package sm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/sm"
)

// TestModuleFileWithPasswordModes: a production module's sm.json that
// records a database password is refused when others may read it, before
// anything is unlocked or connected.
func TestModuleFileWithPasswordModes(t *testing.T) {
	for _, tt := range []struct {
		test    bool
		perm    os.FileMode
		exposed bool
	}{
		{false, 0o644, true},
		{false, 0o604, true},
		{false, 0o600, false},
		{true, 0o644, false},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, sm.ModuleFile)
		testFlag := "false"
		if tt.test {
			testFlag = "true"
		}
		body := `{"format":"stskms-sm/1","smid":"x","variant":"vending","test":` + testFlag +
			`,"database":"postgres://sm:secret@127.0.0.1:1/sm"}`
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.perm); err != nil {
			t.Fatal(err)
		}
		m, err := sm.Open(context.Background(), dir, sm.Options{})
		if m != nil {
			m.Close()
		}
		if got := errors.Is(err, secretfile.ErrExposed); got != tt.exposed {
			t.Errorf("test %v mode %04o: %v; want exposed %v", tt.test, tt.perm, err, tt.exposed)
		}
	}
}
