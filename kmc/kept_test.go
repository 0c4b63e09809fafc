package kmc_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/backuptest"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
)

// liveOfficers are the two officers of a live KMC's sealed custody in
// these tests.
func liveOfficers() []keystore.Component {
	return []keystore.Component{{Officer: "alice", Passphrase: []byte("correct horse battery")},
		{Officer: "bob", Passphrase: []byte("staple tuna mirror 42")}}
}

// initLiveKMC initialises a live KMC (sealed custody, liveOfficers) in dir
// and closes it.
func initLiveKMC(t *testing.T, dir string) { initLiveKMCWith(t, dir, kmc.InitOptions{}) }

// initLiveKMCWith is initLiveKMC with the custody options of o (PKCS11,
// PIN).
func initLiveKMCWith(t *testing.T, dir string, o kmc.InitOptions) {
	t.Helper()
	o.Mode, o.Vendor, o.ID, o.Officers = kmc.ModeLive, "Utility", "K0042", liveOfficers()
	k, err := kmc.Init(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
}

// TestRestoredKMCRefused: a live KMC (sealed store) whose database is
// restored from a copy made before a key rotation refuses to open, naming
// the sizes, until both officers accept the rollback (audited).
func TestRestoredKMCRefused(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "kmc")
	initLiveKMC(t, dir)
	restoreRefused(t, dir, func(accept bool) (*kmc.KMC, error) {
		return kmc.OpenDir(ctx, dir, kmc.OpenOptions{Officers: liveOfficers(), AcceptRollback: accept})
	}, "the officers alice, bob")
}

// TestRestoredPKCS11KMCRefused is TestRestoredKMCRefused with the KMC's
// custody in a SoftHSM2 token (the checkpoint kept in the token): the PIN
// opens it, the officers registered with it accept the rollback, each by
// their passphrase — the PIN alone, or a wrong passphrase, does not.
func TestRestoredPKCS11KMCRefused(t *testing.T) {
	ctx := context.Background()
	cfg, pin := kmcToken(t)
	dir := filepath.Join(t.TempDir(), "kmc")
	initLiveKMCWith(t, dir, kmc.InitOptions{PKCS11: &cfg, PIN: pin})
	restoreRefused(t, dir, func(accept bool) (*kmc.KMC, error) {
		if accept {
			if _, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{PIN: pin, AcceptRollback: true}); !errors.Is(err, kmc.ErrDualControl) {
				t.Errorf("accepted with the PIN alone: %v", err)
			}
			wrong := liveOfficers()
			wrong[1].Passphrase = []byte("not bob's passphrase")
			if _, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{PIN: pin, Officers: wrong, AcceptRollback: true}); !errors.Is(err, keystore.ErrBadPassphrase) {
				t.Errorf("accepted with a wrong passphrase: %v", err)
			}
			return kmc.OpenDir(ctx, dir, kmc.OpenOptions{PIN: pin, Officers: liveOfficers(), AcceptRollback: true})
		}
		return kmc.OpenDir(ctx, dir, kmc.OpenOptions{PIN: pin})
	}, "the officers alice, bob")
}

// restoreRefused backs up the database of the KMC in dir, rotates its key,
// restores the backup, and checks that open refuses it until accepted
// (by whom says who).
func restoreRefused(t *testing.T, dir string, open func(accept bool) (*kmc.KMC, error), by string) {
	t.Helper()
	ctx := context.Background()
	backup := t.TempDir()
	backuptest.Copy(t, dir, backup, kmc.DefaultDBFile+"*")
	k, err := open(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.RotateKey(ctx, "test", 0); err != nil {
		t.Fatal(err)
	}
	k.Close()
	backuptest.Copy(t, backup, dir, kmc.DefaultDBFile+"*")

	_, err = open(false)
	if !errors.Is(err, audit.ErrRolledBack) || !strings.Contains(err.Error(), "accept-rollback") {
		t.Fatalf("restored database opened: %v", err)
	}
	k, err = open(true)
	if err != nil {
		t.Fatal(err)
	}
	if a := k.AcceptedRollback(); !strings.Contains(a, "rolled back") || !strings.Contains(a, by) {
		t.Fatalf("accepted: %q", a)
	}
	var accepted bool
	if err := k.AuditLog().Records(ctx, 1, func(r audit.Record) error {
		accepted = accepted || r.Action == "kmc.rollback.accept"
		return nil
	}); err != nil || !accepted {
		t.Fatalf("kmc.rollback.accept not audited: %v", err)
	}
	k.Close()
	k, err = open(false)
	if err != nil {
		t.Fatalf("after the acceptance: %v", err)
	}
	k.Close()
}
