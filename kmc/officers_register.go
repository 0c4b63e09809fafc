package kmc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
)

// CheckRegistrable returns nil if officers can be registered with the KMC
// in dir (RegisterOfficers): a live KMC whose custody is a PKCS#11 token
// without an officer registry, as one made before registries existed.
// Otherwise ErrMode (a test KMC registers none) or keystore.ErrStoreExists
// naming the officers there (a sealed store's, whose officers are its
// components' holders, or a registry's). It unlocks nothing.
func CheckRegistrable(dir string) error {
	cfg, err := readConfig(dir)
	if err != nil {
		return err
	}
	if cfg.Mode == ModeTest {
		return fmt.Errorf("%w: a test KMC registers no officers (its custody protects nothing)", ErrMode)
	}
	if err := keystore.CheckRegistrable(filepath.Join(dir, KeystoreDir)); err != nil {
		return fmt.Errorf("kmc: %w", err)
	}
	return nil
}

// RegisterOfficers registers officers (names and passphrases, under the
// rules of keystore.RegisterOfficers) with the PKCS#11 custody of the live
// KMC in dir, which must have none yet (CheckRegistrable), unlocking it
// with o.PIN; then opens the KMC with them authenticated (o, with
// o.Officers set to officers) and audits kmc.officers.register by actor,
// naming them. If the KMC cannot be opened or the record written, the
// registry is removed again: nothing stays half-made. Close the KMC when
// done. The caller clears the PIN and the passphrases.
func RegisterOfficers(ctx context.Context, dir, actor string, officers []keystore.Component, o OpenOptions) (*KMC, error) {
	if err := CheckRegistrable(dir); err != nil {
		return nil, err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	ksDir := filepath.Join(dir, KeystoreDir)
	custody, err := openCustody(ksDir, cfg, OpenOptions{PIN: o.PIN})
	if err != nil {
		return nil, fmt.Errorf("kmc: failed to unlock the key custody: %w", err)
	}
	err = keystore.RegisterOfficers(ctx, ksDir, custody, officers)
	custody.Lock()
	if err != nil {
		return nil, fmt.Errorf("kmc: register the officers: %w", err)
	}
	o.Officers = officers
	k, err := OpenDir(ctx, dir, o)
	if err == nil {
		_, err = k.log.AppendNow(ctx, audit.Entry{Actor: actor, Action: "kmc.officers.register",
			Details: map[string]any{"officers": keystore.OfficerNames(officers)}})
		if err != nil {
			k.Close()
		}
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("kmc: officers not registered: %w", err), keystore.UnregisterOfficers(ksDir))
	}
	return k, nil
}
