package keystore

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
)

// TestVerifyOfficer authenticates each officer of a store alone: the right
// passphrase passes, a wrong one and an unknown officer are refused, each
// naming the officer.
func TestVerifyOfficer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	officers := []Component{
		{Officer: "alice", Passphrase: []byte("correct horse battery")},
		{Officer: "bob", Passphrase: []byte("staple of the realm")},
	}
	if err := Init(dir, officers, WithKDF(CheapKDF)); err != nil {
		t.Fatal(err)
	}
	verifyOfficers(t, dir, officers)
	if _, err := StoreOfficers(t.TempDir()); !errors.Is(err, ErrNoStore) {
		t.Errorf("no store: %v", err)
	}
}

// verifyOfficers checks that the officers of the store in dir are officers,
// alice and bob, in that order, each authenticated alone: each passphrase
// passes, alice's given for bob and an unknown officer are refused, each
// naming the officer.
func verifyOfficers(t *testing.T, dir string, officers []Component) {
	t.Helper()
	names, err := StoreOfficers(dir)
	if err != nil || !slices.Equal(names, []string{"alice", "bob"}) {
		t.Fatalf("StoreOfficers = %v, %v", names, err)
	}
	for _, o := range officers {
		if err := VerifyOfficer(dir, o); err != nil {
			t.Errorf("VerifyOfficer(%s) = %v", o.Officer, err)
		}
	}
	var oe *OfficerError
	err = VerifyOfficer(dir, Component{Officer: "bob", Passphrase: officers[0].Passphrase})
	if !errors.Is(err, ErrBadPassphrase) || !errors.As(err, &oe) || oe.Officer != "bob" {
		t.Errorf("another officer's passphrase: %v", err)
	}
	err = VerifyOfficer(dir, Component{Officer: "mallory", Passphrase: officers[0].Passphrase})
	if !errors.Is(err, ErrUnknownOfficer) || !errors.As(err, &oe) || oe.Officer != "mallory" {
		t.Errorf("unknown officer: %v", err)
	}
}

// registryOfficers are the officers of the registry tests.
func registryOfficers() []Component {
	return []Component{
		{Officer: "alice", Passphrase: []byte("correct horse battery")},
		{Officer: "bob", Passphrase: []byte("staple of the realm")},
	}
}

// testCustody returns an unlocked test store, standing in for a custody
// without components (a PKCS#11 token) that a registry is bound to.
func testCustody(t *testing.T) Custody {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "custody")
	if err := InitTest(dir); err != nil {
		t.Fatal(err)
	}
	c, err := UnlockTest(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Lock)
	return c
}

// TestOfficerRegistry registers officers with a custody that has no
// components and authenticates each alone through the same API as a
// sealed store's: the right passphrase passes, a wrong one, another
// officer's and an unknown officer are refused, each naming the officer.
func TestOfficerRegistry(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	custody := testCustody(t)
	if _, err := StoreOfficers(dir); !errors.Is(err, ErrNoOfficers) || !errors.Is(err, ErrNoStore) {
		t.Fatalf("no registry: %v", err)
	}
	if err := RegisterOfficers(ctx, dir, custody, registryOfficers()); err != nil {
		t.Fatal(err)
	}
	verifyOfficers(t, dir, registryOfficers())
	if err := CheckOfficerRegistry(ctx, dir, custody); err != nil {
		t.Errorf("CheckOfficerRegistry = %v", err)
	}
	// Registered once: a second registration changes nothing.
	before, _ := os.ReadFile(filepath.Join(dir, officersFileName))
	err := RegisterOfficers(ctx, dir, custody, []Component{
		{Officer: "mallory", Passphrase: []byte("mallory's passphrase")},
		{Officer: "eve", Passphrase: []byte("eve's own passphrase")},
	})
	if !errors.Is(err, ErrStoreExists) {
		t.Errorf("second registration: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, officersFileName)); !bytes.Equal(before, after) {
		t.Error("a refused registration changed the registry")
	}
}

// TestOfficerRegistryRefusals: officers Init would refuse are refused and
// nothing is written; a registry beside a sealed store is refused.
func TestOfficerRegistryRefusals(t *testing.T) {
	ctx := t.Context()
	custody := testCustody(t)
	for name, officers := range map[string][]Component{
		"one officer":      registryOfficers()[:1],
		"same officer":     {registryOfficers()[0], {Officer: "Alice", Passphrase: []byte("another passphrase")}},
		"short passphrase": {registryOfficers()[0], {Officer: "bob", Passphrase: []byte("short")}},
	} {
		dir := t.TempDir()
		if err := RegisterOfficers(ctx, dir, custody, officers); !errors.Is(err, ErrOfficers) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, officersFileName)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a registry was written", name)
		}
	}
	sealed := filepath.Join(t.TempDir(), "ks")
	if err := Init(sealed, registryOfficers()); err != nil {
		t.Fatal(err)
	}
	if err := RegisterOfficers(ctx, sealed, custody, registryOfficers()); !errors.Is(err, ErrStoreExists) {
		t.Errorf("registry beside a sealed store: %v", err)
	}
}

// TestOfficerRegistryBinding: a registry rewritten to name other officers
// (by whoever can write the directory, without the custody), or taken from
// another custody, fails CheckOfficerRegistry.
func TestOfficerRegistryBinding(t *testing.T) {
	ctx := t.Context()
	custody, other := testCustody(t), testCustody(t)
	dir, forged := t.TempDir(), t.TempDir()
	if err := RegisterOfficers(ctx, dir, custody, registryOfficers()); err != nil {
		t.Fatal(err)
	}
	if err := CheckOfficerRegistry(ctx, dir, other); !errors.Is(err, ErrCorrupt) {
		t.Errorf("registry of another custody: %v", err)
	}
	// mallory and eve register with a custody of their own and put their
	// officers into the registry of dir, keeping its binding.
	if err := RegisterOfficers(ctx, forged, other, []Component{
		{Officer: "mallory", Passphrase: []byte("mallory's passphrase")},
		{Officer: "eve", Passphrase: []byte("eve's own passphrase")},
	}); err != nil {
		t.Fatal(err)
	}
	var orig, fake registryJSON
	testvec.Load(t, filepath.Join(dir, officersFileName), &orig)
	testvec.Load(t, filepath.Join(forged, officersFileName), &fake)
	orig.Officers = fake.Officers
	b, _ := json.Marshal(orig)
	if err := os.WriteFile(filepath.Join(dir, officersFileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckOfficerRegistry(ctx, dir, custody); !errors.Is(err, ErrCorrupt) {
		t.Errorf("rewritten registry: %v", err)
	}
	// The forged verifiers do not even verify: they are bound to their
	// own registry's id.
	if err := VerifyOfficer(dir, Component{Officer: "mallory", Passphrase: []byte("mallory's passphrase")}); !errors.Is(err, ErrBadPassphrase) {
		t.Errorf("forged verifier: %v", err)
	}
}

// FuzzParseRegistry: the registry parser never panics and refuses with
// its typed errors.
func FuzzParseRegistry(f *testing.F) {
	f.Add([]byte(`{"format":"stskms-keystore-officers","version":1,"registry_id":"00","officers":[],"binding":"00"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseRegistry(data); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrKDFParams) {
			t.Errorf("untyped error: %v", err)
		}
	})
}
