package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stskms/stskms/kmc"
	kmcapi "github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/sm"
	smapi "github.com/stskms/stskms/sm/api"
)

// Dual control on the command line: every part of a dual-control step
// names an officer registered with the KMC's (or module's) key custody,
// and each of those officers proves their part with their own passphrase —
// given to open the custody (--officers) or asked for now. The registry
// refuses a name first, before any passphrase is read and before anything
// changes.

// authenticateParts checks that names, the officers of the parts of one
// dual-control step, are at least two different officers registered with
// k (kmc.ErrDualControl, kmc.ErrUnknownOfficer naming the unknown ones),
// then has each officer not authenticated when f opened the KMC give
// their passphrase (without echo on a terminal, else one line each from
// standard input, in the order of names) and verifies it
// (keystore.ErrBadPassphrase naming the officer). A test KMC registers no
// officers: only the distinct names are checked there.
func authenticateParts(e *env, f *kmcFlags, k *kmc.KMC, names []string) error {
	if err := k.CheckOfficers(names); err != nil {
		return err
	}
	if k.Officers() == nil {
		return nil
	}
	var ask []string
	for _, n := range names {
		if !slices.Contains(f.authenticated, n) {
			ask = append(ask, n)
		}
	}
	comps, err := officerPassphrases(e, ask)
	if err != nil {
		return err
	}
	defer zeroOfficers(comps)
	_, err = kmc.AuthenticateOfficers(f.dir, comps)
	return err
}

// smDualActor returns the caller of a dual-control command (slot install,
// slot load) on module m: for a production module the officers openSM had
// it authenticate — every officer of a sealed store, or those given for a
// PKCS#11 token — who must be at least two different officers registered
// with it (sm.Module.DualControl), recorded as "officer:A+B[+…]"; for a
// test module, which registers no officers, the --as officer.
func smDualActor(m *sm.Module, f *smFlags) (sm.Actor, error) {
	if m.Officers() == nil {
		return sm.Officer.As(f.as), nil
	}
	names := f.authenticated
	if len(names) < 2 {
		return sm.Actor{}, fmt.Errorf("dual control: at least two officers registered with the module must give their passphrases (NAME=PASSPHRASE lines on standard input)")
	}
	a, err := m.DualControl(sm.Officer.As(names[0]), sm.Officer.As(names[1]))
	if err == nil && len(names) > 2 {
		a = sm.Officer.As(strings.Join(names, "+"))
	}
	return a, err
}

// kmcDualActor returns the audit actor of a dual-control command on KMC k
// (an STS Association key change): on a live KMC the officers who gave
// their passphrases to open it (--officers), at least two different ones
// registered with it (kmc.KMC.CheckOfficers), as "officer:A+B[+…]"; on a
// test KMC, which registers no officers, --as.
func kmcDualActor(f *kmcFlags, k *kmc.KMC) (string, error) {
	if k.Officers() == nil {
		return f.as, nil
	}
	if err := k.CheckOfficers(f.authenticated); err != nil {
		return "", fmt.Errorf("%w (give --officers: at least two officers, each with their passphrase)", err)
	}
	return "officer:" + strings.Join(f.authenticated, "+"), nil
}

// checkKMCOfficerTokens refuses, before kmc serve serves, a token file
// whose officer tokens name someone not registered with the live KMC's
// custody in dir (kmcapi.CheckOfficerTokens).
func checkKMCOfficerTokens(dir string, t *kmcapi.Tokens) error {
	officers, err := kmc.DirOfficers(dir)
	if err != nil {
		return err
	}
	return kmcapi.CheckOfficerTokens(t, officers)
}

// checkSMOfficerTokens is checkKMCOfficerTokens for sm serve and the
// production module in dir.
func checkSMOfficerTokens(dir string, t *smapi.Tokens) error {
	officers, err := sm.DirOfficers(dir)
	if err != nil {
		return err
	}
	return smapi.CheckOfficerTokens(t, officers)
}
