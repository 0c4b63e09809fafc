package kmc

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode is a KMC's mode, fixed when it is set up.
type Mode string

const (
	// ModeTest is a KMC for tests, demos and integration: its key custody
	// unlocks from a file kept beside it (keystore.InitTest), and it issues
	// Key Load Files to virtual (software) security modules. Its keys
	// protect nothing.
	ModeTest Mode = "test"
	// ModeLive is a production KMC: its custody needs every officer's
	// passphrase, and it registers and serves only certified hardware
	// modules (STS 600-10-1 §4.5).
	ModeLive Mode = "live"
)

// ParseMode accepts "test" and "live".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeTest, ModeLive:
		return Mode(s), nil
	}
	return "", fmt.Errorf("%w: mode %q (want test or live)", ErrInvalid, s)
}

// TestModeWarning is what the KMC's tools show wherever a test-mode KMC's
// identity or keys show.
const TestModeWarning = "*** TEST MODE KMC: its keys are NOT protected (unlock material lies beside them); " +
	"never use it for live vending keys or live security modules ***"

// KeyType is a vending key type, the KT field of VK.1 (kms-records.md §3.5),
// following the IEC decoder key types DITK/DDTK/DUTK/DCTK.
type KeyType int

const (
	// KeyInit is the initialization key from which DITKs are derived,
	// issued only to manufacturing modules (KT 0).
	KeyInit KeyType = 0
	// VDDK is the vending default key (KT 1), for DDTKs.
	VDDK KeyType = 1
	// VUDK is the vending unique key (KT 2), for DUTKs.
	VUDK KeyType = 2
	// VCDK is the vending common key (KT 3), for DCTKs.
	VCDK KeyType = 3
)

var keyTypeNames = [...]string{"INIT", "VDDK", "VUDK", "VCDK"}

// String returns INIT, VDDK, VUDK or VCDK.
func (t KeyType) String() string {
	if t.valid() {
		return keyTypeNames[t]
	}
	return "KeyType(" + strconv.Itoa(int(t)) + ")"
}

func (t KeyType) valid() bool { return t >= KeyInit && t <= VCDK }

// ParseKeyType accepts a key type by name (INIT, VDDK, VUDK, VCDK, any
// case) or by its KT digit (0 to 3).
func ParseKeyType(s string) (KeyType, error) {
	for i, n := range keyTypeNames {
		if strings.EqualFold(s, n) || s == strconv.Itoa(i) {
			return KeyType(i), nil
		}
	}
	return 0, fmt.Errorf("%w: key type %q (want INIT, VDDK, VUDK or VCDK)", ErrInvalid, s)
}

// KeyTypes is a set of key types.
type KeyTypes uint8

// AllVendingTypes is VDDK, VUDK and VCDK: what a vending module may get.
const AllVendingTypes = KeyTypes(1<<VDDK | 1<<VUDK | 1<<VCDK)

// TypesOf returns the set of the given types.
func TypesOf(types ...KeyType) KeyTypes {
	var s KeyTypes
	for _, t := range types {
		s |= 1 << t
	}
	return s
}

// Has reports whether t is in s.
func (s KeyTypes) Has(t KeyType) bool { return t.valid() && s&(1<<t) != 0 }

// List returns the types of s in order.
func (s KeyTypes) List() []KeyType {
	var out []KeyType
	for t := KeyInit; t <= VCDK; t++ {
		if s.Has(t) {
			out = append(out, t)
		}
	}
	return out
}

// String returns the names joined by ",", e.g. "VUDK,VCDK".
func (s KeyTypes) String() string {
	var names []string
	for _, t := range s.List() {
		names = append(names, t.String())
	}
	return strings.Join(names, ",")
}

// ParseKeyTypes parses a comma-separated list of key types.
func ParseKeyTypes(s string) (KeyTypes, error) {
	var out KeyTypes
	for _, f := range strings.Split(s, ",") {
		t, err := ParseKeyType(strings.TrimSpace(f))
		if err != nil {
			return 0, err
		}
		out |= 1 << t
	}
	return out, nil
}

// Variant is a security module's variant, fixed when the module is made.
type Variant string

const (
	// Vending modules issue tokens to meters in the field; they never
	// receive initialization keys.
	Vending Variant = "vending"
	// Manufacturing modules initialise meters at the factory; they may
	// receive initialization keys.
	Manufacturing Variant = "manufacturing"
)

// ParseVariant accepts "vending" and "manufacturing".
func ParseVariant(s string) (Variant, error) {
	switch Variant(s) {
	case Vending, Manufacturing:
		return Variant(s), nil
	}
	return "", fmt.Errorf("%w: variant %q (want vending or manufacturing)", ErrInvalid, s)
}

// mayReceive is the variant rule of key types: a vending module never
// receives an initialization key.
func (v Variant) mayReceive(t KeyType) bool {
	return t != KeyInit || v == Manufacturing
}
