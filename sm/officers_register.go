package sm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
)

// CheckRegistrable returns nil if officers can be registered with the
// module in dir (RegisterOfficers): a production module whose custody is
// a PKCS#11 token without an officer registry, as one made before
// registries existed. Otherwise ErrInvalidRequest (a test module
// registers none) or keystore.ErrStoreExists
// naming the officers there (a sealed store's, whose officers are its
// components' holders, or a registry's). It unlocks nothing.
func CheckRegistrable(dir string) error {
	mf, err := readModuleFile(dir)
	if err != nil {
		return err
	}
	if mf.Test {
		return refuse(ErrInvalidRequest, "a test module registers no officers (its custody protects nothing)")
	}
	if err := keystore.CheckRegistrable(filepath.Join(dir, KeystoreDir)); err != nil {
		return fmt.Errorf("sm: %w", err)
	}
	return nil
}

// RegisterOfficers registers officers (names and passphrases, under the
// rules of keystore.RegisterOfficers) with the PKCS#11 custody of the
// production module in dir, which must have none yet (CheckRegistrable),
// unlocking it with opts.PIN; then opens the module with them
// authenticated (Open with opts, opts.Officers set to officers) and audits
// sm.officers.register by actor, naming them. If the module cannot be
// opened or the record written, the registry is removed again: nothing
// stays half-made. Close the module when done. The caller clears the PIN
// and the passphrases.
func RegisterOfficers(ctx context.Context, dir, actor string, officers []keystore.Component, opts Options) (*Module, error) {
	if err := CheckRegistrable(dir); err != nil {
		return nil, err
	}
	mf, err := readModuleFile(dir)
	if err != nil {
		return nil, err
	}
	ksDir := filepath.Join(dir, KeystoreDir)
	custody, err := openCustody(ksDir, mf, Options{PIN: opts.PIN})
	if err != nil {
		return nil, fmt.Errorf("sm: failed to unlock the key custody: %w", err)
	}
	err = keystore.RegisterOfficers(ctx, ksDir, custody, officers)
	custody.Lock()
	if err != nil {
		return nil, fmt.Errorf("sm: register the officers: %w", err)
	}
	opts.Officers = officers
	m, err := Open(ctx, dir, opts)
	if err == nil {
		_, err = m.log.AppendNow(ctx, audit.Entry{Actor: actor, Action: "sm.officers.register", Subject: m.ident.SMID.String(),
			Details: map[string]any{"officers": keystore.OfficerNames(officers)}})
		if err != nil {
			m.Close()
		}
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sm: officers not registered: %w", err), keystore.UnregisterOfficers(ksDir))
	}
	return m, nil
}
