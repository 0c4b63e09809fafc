package kmc_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/kmc"
)

// TestConfigWithPasswordModes: a live KMC's kmc.json that records a
// database password is refused when others may read it; without a
// password, or in test mode, its mode is not a secret's.
func TestConfigWithPasswordModes(t *testing.T) {
	for _, tt := range []struct {
		mode, db string
		perm     os.FileMode
		exposed  bool
	}{
		{"live", "postgres://kmc:secret@127.0.0.1:1/kmc", 0o644, true},
		{"live", "postgres://kmc@127.0.0.1:1/kmc?password=secret", 0o640, true},
		{"live", "postgres://kmc:secret@127.0.0.1:1/kmc", 0o600, false},
		{"live", "postgres://kmc@127.0.0.1:1/kmc?sslmode=verify-full", 0o644, false},
		{"live", "sqlite:kmc.db", 0o644, false},
		{"test", "postgres://kmc:secret@127.0.0.1:1/kmc", 0o644, false},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, kmc.ConfigFile)
		body := `{"format":"stskms-kmc","version":1,"mode":"` + tt.mode + `","database":"` + tt.db + `"}`
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.perm); err != nil {
			t.Fatal(err)
		}
		_, err := kmc.DirMode(dir)
		if got := errors.Is(err, secretfile.ErrExposed); got != tt.exposed || (!tt.exposed && err != nil) {
			t.Errorf("%s %s mode %04o: %v; want exposed %v", tt.mode, tt.db, tt.perm, err, tt.exposed)
		}
	}
}
