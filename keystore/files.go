package keystore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stskms/stskms/internal/atomicfile"
)

// File names in a store directory.
const (
	metaFileName = "keystore.json"
	testFileName = "TEST-ONLY-unlock.json"
	keyFileExt   = ".key"
	tempPrefix   = atomicfile.TempPrefix // temporary files: hidden, never a valid key name
)

// Size limits for reading store files: far above what they hold, far below
// what could hurt.
const (
	maxMetaSize    = 64 << 10
	maxKeyFileSize = 4 << 10
	maxTestSize    = 16 << 10
)

const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// crashHook, when not nil, runs after the temporary file is written and
// synced and before it is renamed into place. An error from it stops the
// write there and leaves the temporary file behind, as a crash would. Set
// only by tests (per Sealed, or for Init through initCrashHook).
type crashHook func(final string) error

// writeFileAtomic puts data into dir/name so that a crash at any point
// leaves either the previous file (or none) or the new one, complete
// (package atomicfile). A hook that fails stops the write before the rename
// and leaves the temporary file behind, as a crash would.
func writeFileAtomic(dir, name string, data []byte, hook crashHook) error {
	var beforeRename func() error
	if hook != nil {
		beforeRename = func() error { return hook(name) }
	}
	if err := atomicfile.Write(dir, name, data, filePerm, beforeRename); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}

// errSimulatedCrash is what crash hooks return in tests; writeFileAtomic
// then leaves its temporary file behind, as a real crash would.
var errSimulatedCrash = errors.New("keystore: simulated crash (test hook)")

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}

// readFileLimited reads dir/name if it is a regular file of at most max
// bytes. A missing file is reported as fs.ErrNotExist; a larger one as
// ErrCorrupt.
func readFileLimited(dir, name string, max int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, name)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("keystore: read %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, name, max)
	}
	return data, nil
}

// removeTemps deletes the temporary files a crash left in dir. They hold
// writes that never took effect; the files they were meant to become are
// intact.
func removeTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("keystore: read directory: %w", err)
	}
	removed := false
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("keystore: remove temporary file: %w", err)
			}
			removed = true
		}
	}
	if removed {
		return syncDir(dir)
	}
	return nil
}

// keyNames lists the key names that have a file in dir. A NAME.key file
// whose NAME fails CheckName is ErrCorrupt.
func keyNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("keystore: read directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), keyFileExt)
		if !ok || strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if CheckName(n) != nil {
			return nil, fmt.Errorf("%w: key file with an invalid name", ErrCorrupt)
		}
		names = append(names, n)
	}
	return names, nil
}

// prepareDir makes dir (mode 0700) or checks that it is an empty directory.
func prepareDir(dir string) error {
	err := os.Mkdir(dir, dirPerm)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keystore: create directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("keystore: %s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("keystore: read directory: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: %s holds %d entries", ErrStoreExists, dir, len(entries))
	}
	if err := os.Chmod(dir, dirPerm); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}
