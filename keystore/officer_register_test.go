package keystore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRegistrable: officers can be registered with a custody
// directory holding neither a sealed store nor a registry; a sealed
// store's (its component holders) and a registry's officers are refused,
// ErrStoreExists naming them. UnregisterOfficers undoes a registration,
// after which one may be made again, and is no error without one.
func TestCheckRegistrable(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	if err := CheckRegistrable(dir); err != nil {
		t.Fatalf("empty custody directory: %v", err)
	}
	sealed := filepath.Join(t.TempDir(), "ks")
	if err := Init(sealed, registryOfficers(), WithKDF(CheapKDF)); err != nil {
		t.Fatal(err)
	}
	if err := CheckRegistrable(sealed); !errors.Is(err, ErrStoreExists) || !strings.Contains(err.Error(), "components (alice, bob)") {
		t.Errorf("sealed store: %v", err)
	}
	custody := testCustody(t)
	if err := RegisterOfficers(ctx, dir, custody, registryOfficers(), WithKDF(CheapKDF)); err != nil {
		t.Fatal(err)
	}
	if err := CheckRegistrable(dir); !errors.Is(err, ErrStoreExists) || !strings.Contains(err.Error(), "already: alice, bob") {
		t.Errorf("registry: %v", err)
	}
	for range 2 {
		if err := UnregisterOfficers(dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, OfficersFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("registry after UnregisterOfficers: %v", err)
	}
	if err := CheckRegistrable(dir); err != nil {
		t.Errorf("after UnregisterOfficers: %v", err)
	}
}
