package kmc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stskms/stskms/keystore"
)

// Officers of a live KMC: the security officers registered with its key
// custody (keystore.StoreOfficers: the sealed store's component holders,
// or a PKCS#11 custody's officer registry). Every part of a dual-control
// step — a component of an imported key, an approval — names one of them,
// and the KMC refuses any other name (ErrUnknownOfficer). Proving that the
// officer named is the one taking part is the caller's: the command line
// verifies the officer's passphrase (AuthenticateOfficers), the HTTP API
// takes the officer's bearer token; a console will take the officer's
// passkey. A test KMC registers no officers: its custody protects nothing,
// and dual control there checks only that the names differ.

// ErrUnknownOfficer: a part of a dual-control step names someone who is
// not an officer registered with the KMC's custody.
var ErrUnknownOfficer = errors.New("kmc: dual control: not an officer registered with this KMC")

// loadOfficers returns the officers registered with the custody of cfg: nil
// for a test custody or a KMC without a custody directory (made by New
// alone). A PKCS#11 custody's registry must be bound to the custody
// (keystore.CheckOfficerRegistry), and every officer in cfg.UnlockedBy
// must be registered.
func loadOfficers(ctx context.Context, cfg Config) ([]string, error) {
	if cfg.Custody.TestMode() || cfg.KeepDir == "" {
		return nil, nil
	}
	if err := keystore.CheckOfficerRegistry(ctx, cfg.KeepDir, cfg.Custody); err != nil {
		return nil, fmt.Errorf("kmc: the officers of the key custody: %w", err)
	}
	officers, err := keystore.StoreOfficers(cfg.KeepDir)
	if err != nil {
		return nil, fmt.Errorf("kmc: the officers of the key custody: %w", err)
	}
	if err := checkRegistered(officers, cfg.UnlockedBy); err != nil {
		return nil, err
	}
	return officers, nil
}

// Officers returns the officers registered with the KMC's custody, in
// their order there; nil for a KMC without a registry (test mode).
func (k *KMC) Officers() []string { return slices.Clone(k.officers) }

// CheckOfficers refuses the parts of one dual-control step unless they
// come from at least two different officers (ErrDualControl) each
// registered with the KMC (ErrUnknownOfficer, naming every unknown one).
// Names are compared exactly for registration and without case for
// distinctness. It authenticates nobody: see the comment above.
func (k *KMC) CheckOfficers(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		l := strings.ToLower(strings.TrimSpace(n))
		if seen[l] {
			return fmt.Errorf("%w: officer %q takes part twice", ErrDualControl, n)
		}
		seen[l] = true
	}
	if len(seen) < 2 {
		return fmt.Errorf("%w: %d officer(s)", ErrDualControl, len(seen))
	}
	return k.checkRegistered(names...)
}

// checkRegistered refuses names that are not registered officers, when the
// KMC has a registry.
func (k *KMC) checkRegistered(names ...string) error {
	if k.officers == nil {
		return nil
	}
	return checkRegistered(k.officers, names)
}

func checkRegistered(officers, names []string) error {
	var unknown []string
	for _, n := range names {
		if !slices.Contains(officers, n) {
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: %s (the registered officers are %s)", ErrUnknownOfficer,
			strings.Join(unknown, ", "), strings.Join(officers, ", "))
	}
	return nil
}

// DirOfficers returns the officers registered with the key custody of the
// KMC directory dir, without unlocking it: nil for a test KMC. It does not
// check a PKCS#11 custody's registry against the token (OpenDir does), so
// that a tool can refuse early what the KMC would refuse later.
func DirOfficers(dir string) ([]string, error) {
	cfg, err := readConfig(dir)
	if err != nil || cfg.Mode == ModeTest {
		return nil, err
	}
	officers, err := keystore.StoreOfficers(filepath.Join(dir, KeystoreDir))
	if err != nil {
		return nil, fmt.Errorf("kmc: the officers of the key custody: %w", err)
	}
	return officers, nil
}

// AuthenticateOfficers verifies each officer's passphrase against the
// custody of the KMC directory dir (keystore.VerifyOfficer), without
// unlocking it, and returns their names: the officers of a dual-control
// step proved by their own passphrases. It stops at the first refusal (an
// *keystore.OfficerError naming the officer).
func AuthenticateOfficers(dir string, officers []keystore.Component) ([]string, error) {
	ksDir := filepath.Join(dir, KeystoreDir)
	for _, c := range officers {
		if err := keystore.VerifyOfficer(ksDir, c); err != nil {
			return nil, fmt.Errorf("kmc: %w", err)
		}
	}
	return keystore.OfficerNames(officers), nil
}
