package keystore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// OfficersFile is the name of the officer registry (RegisterOfficers) in
// a custody directory.
const OfficersFile = officersFileName

// CheckRegistrable returns nil if officers can be registered with the
// custody in dir (RegisterOfficers): it holds neither a sealed store nor
// an officer registry, as the directory of a PKCS#11 custody made before
// registries existed. Otherwise ErrStoreExists naming the officers there —
// a sealed store's officers are the holders of its components, a
// registry's are registered already — or the error reading them. It reads
// only the directory, never the custody.
func CheckRegistrable(dir string) error {
	m, err := readOfficers(dir)
	if errors.Is(err, ErrNoOfficers) {
		return nil
	}
	if err != nil {
		return err
	}
	names := make([]string, len(m.comps))
	for i, c := range m.comps {
		names[i] = c.officer
	}
	if m.registry {
		return fmt.Errorf("%w: officers are registered with this custody already: %s", ErrStoreExists, strings.Join(names, ", "))
	}
	return fmt.Errorf("%w: a sealed store's officers are the holders of its components (%s): there are none to register",
		ErrStoreExists, strings.Join(names, ", "))
}

// UnregisterOfficers removes the officer registry RegisterOfficers made in
// dir: only to undo a registration whose caller could not finish it (and
// record it), so that nothing stays half-made. No registry is no error.
func UnregisterOfficers(dir string) error {
	err := os.Remove(filepath.Join(dir, officersFileName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("keystore: remove %s: %w", officersFileName, err)
	}
	return nil
}
