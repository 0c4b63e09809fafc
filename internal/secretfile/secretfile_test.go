package secretfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/internal/testfile"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o700, true}, {0o200, true},
		{0o640, false}, {0o604, false}, {0o644, false}, {0o660, false}, {0o606, false},
		{0o610, false}, {0o601, false}, {0o777, false}, {0o620, false}, {0o602, false},
	} {
		path := testfile.Write(t, dir, "secret", "x", tt.mode)
		err := secretfile.Check(path)
		if tt.ok {
			if err != nil {
				t.Errorf("mode %04o: %v", tt.mode, err)
			}
			continue
		}
		var ee *secretfile.ExposedError
		if !errors.As(err, &ee) || !errors.Is(err, secretfile.ErrExposed) || ee.Mode != tt.mode {
			t.Errorf("mode %04o: %v; want an ExposedError", tt.mode, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
			t.Errorf("mode %04o: %q does not name the file and the remedy", tt.mode, msg)
		}
	}
	if err := secretfile.Check(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCheckFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	target := testfile.Write(t, dir, "target", "x", 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	// The link itself is 0777 on Linux; the file it names is what counts.
	if err := secretfile.Check(link); !errors.Is(err, secretfile.ErrExposed) {
		t.Errorf("link to a 0644 file: %v", err)
	}
	if err := os.Chmod(target, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := secretfile.Check(link); err != nil {
		t.Errorf("link to a 0600 file: %v", err)
	}
}
