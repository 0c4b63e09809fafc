package sm

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodydir"
)

// CheckRegistrable returns nil if officers can be registered with the
// module in dir (RegisterOfficers): a production module whose custody is
// a PKCS#11 token without an officer registry, as one made before
// registries existed. Otherwise ErrInvalidRequest (a test module
// registers none) or keystore.ErrStoreExists
// naming the officers there (a sealed store's, whose officers are its
// components' holders, or a registry's). It unlocks nothing.
func CheckRegistrable(dir string) error {
	_, err := registrable(dir)
	return err
}

// registrable is CheckRegistrable, returning what the module file says.
func registrable(dir string) (moduleFile, error) {
	mf, err := readModuleFile(dir)
	if err != nil {
		return moduleFile{}, err
	}
	if mf.Test {
		return moduleFile{}, refuse(ErrInvalidRequest, "a test module registers no officers (its custody protects nothing)")
	}
	if err := keystore.CheckRegistrable(filepath.Join(dir, KeystoreDir)); err != nil {
		return moduleFile{}, fmt.Errorf("sm: %w", err)
	}
	return mf, nil
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
	mf, err := registrable(dir)
	if err != nil {
		return nil, err
	}
	ksDir := filepath.Join(dir, KeystoreDir)
	unlock := func() (keystore.Custody, error) { return openCustody(ksDir, mf, Options{PIN: opts.PIN}) }
	opts.Officers = officers
	m, err := custodydir.RegisterOfficers(ctx, ksDir, officers, unlock, func() (*Module, error) { return Open(ctx, dir, opts) },
		func(m *Module) error {
			_, err := m.log.AppendNow(ctx, audit.Entry{Actor: actor, Action: "sm.officers.register", Subject: m.ident.SMID.String(),
				Details: map[string]any{"officers": keystore.OfficerNames(officers)}})
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("sm: %w", err)
	}
	return m, nil
}
