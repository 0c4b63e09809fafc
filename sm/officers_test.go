package sm_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
	"github.com/stskms/stskms/sm"
)

// checkDualControl checks m's dual control against its officers, alice
// and bob: mallory is refused as either officer, naming her, and so is
// one officer twice; alice and bob make "officer:alice+bob".
func checkDualControl(t *testing.T, m *sm.Module) {
	t.Helper()
	if got := m.Officers(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("Officers = %v", got)
	}
	alice, bob, mallory := sm.Officer.As("alice"), sm.Officer.As("bob"), sm.Officer.As("mallory")
	for _, pair := range [][2]sm.Actor{{alice, mallory}, {mallory, bob}} {
		if _, err := m.DualControl(pair[0], pair[1]); !errors.Is(err, sm.ErrRole) || !strings.Contains(err.Error(), `"mallory"`) {
			t.Errorf("%v: %v", pair, err)
		}
	}
	if _, err := m.DualControl(alice, alice); !errors.Is(err, sm.ErrRole) {
		t.Errorf("alice twice: %v", err)
	}
	if a, err := m.DualControl(alice, bob); err != nil || a != sm.Officer.As("alice+bob") {
		t.Errorf("alice and bob: %v, %v", a, err)
	}
}

// TestModuleOfficers: a production module on the sealed store names its
// components' officers for dual control.
func TestModuleOfficers(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sm")
	if _, err := sm.Init(ctx, dir, sm.Vending, false, sm.Options{Officers: releaseOfficers()}); err != nil {
		t.Fatal(err)
	}
	m, err := sm.Open(ctx, dir, sm.Options{Officers: releaseOfficers()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	checkDualControl(t, m)
}

// TestPKCS11ModuleOfficers: a production module on a PKCS#11 token
// registers its officers at init (at least two), authenticates those
// given at open against the registry (a wrong passphrase refused, naming
// the officer), and names them for dual control as the sealed store does.
func TestPKCS11ModuleOfficers(t *testing.T) {
	ctx := context.Background()
	cfg, pin := softhsmtest.New(t).Token("sm-token")
	cfg.Namespace = "sm"
	if _, err := sm.Init(ctx, filepath.Join(t.TempDir(), "x"), sm.Vending, false, sm.Options{PKCS11: &cfg, PIN: pin}); !errors.Is(err, keystore.ErrOfficers) {
		t.Errorf("PKCS#11 module without officers: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "sm")
	if _, err := sm.Init(ctx, dir, sm.Vending, false, sm.Options{PKCS11: &cfg, PIN: pin, Officers: releaseOfficers()}); err != nil {
		t.Fatal(err)
	}
	wrong := releaseOfficers()
	wrong[1].Passphrase = []byte("not bob's passphrase")
	var oe *keystore.OfficerError
	if _, err := sm.Open(ctx, dir, sm.Options{PIN: pin, Officers: wrong}); !errors.As(err, &oe) || oe.Officer != "bob" || !errors.Is(err, keystore.ErrBadPassphrase) {
		t.Errorf("open with bob's wrong passphrase: %v", err)
	}
	if officers, err := sm.DirOfficers(dir); err != nil || !slices.Equal(officers, []string{"alice", "bob"}) {
		t.Errorf("DirOfficers = %v, %v", officers, err)
	}
	m, err := sm.Open(ctx, dir, sm.Options{PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	checkDualControl(t, m)
}
