package kmc

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodydir"
)

// CheckRegistrable returns nil if officers can be registered with the KMC
// in dir (RegisterOfficers): a live KMC whose custody is a PKCS#11 token
// without an officer registry, as one made before registries existed.
// Otherwise ErrMode (a test KMC registers none) or keystore.ErrStoreExists
// naming the officers there (a sealed store's, whose officers are its
// components' holders, or a registry's). It unlocks nothing.
func CheckRegistrable(dir string) error {
	_, err := registrable(dir)
	return err
}

// registrable is CheckRegistrable, returning the KMC's configuration.
func registrable(dir string) (dirConfig, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return dirConfig{}, err
	}
	if cfg.Mode == ModeTest {
		return dirConfig{}, fmt.Errorf("%w: a test KMC registers no officers (its custody protects nothing)", ErrMode)
	}
	if err := keystore.CheckRegistrable(filepath.Join(dir, KeystoreDir)); err != nil {
		return dirConfig{}, fmt.Errorf("kmc: %w", err)
	}
	return cfg, nil
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
	cfg, err := registrable(dir)
	if err != nil {
		return nil, err
	}
	ksDir := filepath.Join(dir, KeystoreDir)
	unlock := func() (keystore.Custody, error) { return openCustody(ksDir, cfg, OpenOptions{PIN: o.PIN}) }
	o.Officers = officers
	k, err := custodydir.RegisterOfficers(ctx, ksDir, officers, unlock, func() (*KMC, error) { return OpenDir(ctx, dir, o) },
		func(k *KMC) error {
			_, err := k.log.AppendNow(ctx, audit.Entry{Actor: actor, Action: "kmc.officers.register",
				Details: map[string]any{"officers": keystore.OfficerNames(officers)}})
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("kmc: %w", err)
	}
	return k, nil
}
