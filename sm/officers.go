package sm

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stskms/stskms/keystore"
)

// Officers of a production module: the security officers registered with
// its key custody (keystore.StoreOfficers: the sealed store's component
// holders, or a PKCS#11 custody's officer registry). Every part of a
// dual-control operation — the two officers installing a KMC key or
// loading a Key Load File, the officers accepting a rollback, a restore
// or a downgrade — names one of them, and the module refuses any other
// name. Proving that the officer named is the one taking part is the
// caller's: a passphrase (Open, keystore.VerifyOfficer), a bearer token or
// client certificate mapped to the officer's name (the APIs); a console
// will take the officer's passkey. A test module registers no officers.

// loadOfficers returns the officers registered with the custody in ksDir
// of a production module (nil for a test one), after checking a PKCS#11
// custody's registry against the token and authenticating the officers
// given for it in opts (the sealed store's Unlock authenticated them).
func loadOfficers(ctx context.Context, ksDir string, mf moduleFile, custody keystore.Custody, opts Options) ([]string, error) {
	if mf.Test {
		return nil, nil
	}
	if err := keystore.CheckOfficerRegistry(ctx, ksDir, custody); err != nil {
		return nil, fmt.Errorf("sm: the officers of the key custody: %w", err)
	}
	officers, err := keystore.StoreOfficers(ksDir)
	if err != nil {
		return nil, fmt.Errorf("sm: the officers of the key custody: %w", err)
	}
	if mf.Custody == keystore.KindPKCS11 {
		for _, c := range opts.Officers {
			if err := keystore.VerifyOfficer(ksDir, c); err != nil {
				return nil, fmt.Errorf("sm: %w", err)
			}
		}
	}
	return officers, nil
}

// Officers returns the officers registered with the module's custody, in
// their order there; nil for a test module.
func (m *Module) Officers() []string { return slices.Clone(m.officers) }

// DualControl returns the caller of an operation under dual control, as
// the function DualControl does, and also refuses (ErrRole) an officer
// who is not registered with the module's custody, naming them: a token
// or certificate mapped to a name that is no officer of this module does
// not make a quorum.
func (m *Module) DualControl(first, second Actor) (Actor, error) {
	a, err := DualControl(first, second)
	if err != nil || m.officers == nil {
		return a, err
	}
	var unknown []string
	for _, n := range []string{first.Name, second.Name} {
		if !slices.Contains(m.officers, n) {
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) > 0 {
		return Actor{}, refuse(ErrRole, "dual control: %s not an officer registered with this module (the registered officers are %s)",
			strings.Join(unknown, ", "), strings.Join(m.officers, ", "))
	}
	return a, nil
}

// DirOfficers returns the officers registered with the key custody of the
// module in dir, without unlocking it: nil for a test module. It does not
// check a PKCS#11 custody's registry against the token (Open does), so
// that a tool can refuse early what the module would refuse later.
func DirOfficers(dir string) ([]string, error) {
	mf, err := readModuleFile(dir)
	if err != nil || mf.Test {
		return nil, err
	}
	officers, err := keystore.StoreOfficers(filepath.Join(dir, KeystoreDir))
	if err != nil {
		return nil, fmt.Errorf("sm: the officers of the key custody: %w", err)
	}
	return officers, nil
}
