package keystore

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
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
	err = VerifyOfficer(dir, Component{Officer: "bob", Passphrase: []byte("correct horse battery")})
	if !errors.Is(err, ErrBadPassphrase) || !errors.As(err, &oe) || oe.Officer != "bob" {
		t.Errorf("wrong passphrase: %v", err)
	}
	err = VerifyOfficer(dir, Component{Officer: "mallory", Passphrase: []byte("correct horse battery")})
	if !errors.Is(err, ErrUnknownOfficer) {
		t.Errorf("unknown officer: %v", err)
	}
	if _, err := StoreOfficers(t.TempDir()); !errors.Is(err, ErrNoStore) {
		t.Errorf("no store: %v", err)
	}
}
