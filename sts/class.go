package sts

import "fmt"

// Class is the 2-bit token class.
type Class uint8

// Token classes.
const (
	ClassCredit     Class = 0 // transfer credit
	ClassTest       Class = 1 // non-meter-specific engineering: initiate meter test/display (not encrypted)
	ClassManagement Class = 2 // meter-specific management
	ClassReserved   Class = 3 // reserved (proprietary)
)

// String is the class's name, e.g. "credit".
func (c Class) String() string {
	switch c {
	case ClassCredit:
		return "credit"
	case ClassTest:
		return "test"
	case ClassManagement:
		return "management"
	}
	return fmt.Sprintf("reserved class %d", uint8(c))
}

// Subclass is the 4-bit token subclass; its meaning depends on the class.
type Subclass uint8

// Class 0 (credit) subclasses.
const (
	Electricity         Subclass = 0 // 0.1 kWh
	Water               Subclass = 1 // 0.1 m³
	Gas                 Subclass = 2 // 0.1 m³
	ConnectionTime      Subclass = 3 // 0.1 of the time unit
	ElectricityCurrency Subclass = 4 // 0.00001 of the currency unit: a CurrencyCredit token (docs/tokens.md §5)
)

// Class 1 (test) subclasses.
const (
	TestDisplay1 Subclass = 0 // 8-bit manufacturer code, 36-bit control
	TestDisplay2 Subclass = 1 // 16-bit manufacturer code, 28-bit control
)

// Class 2 (management) subclasses.
const (
	MaximumPowerLimit               Subclass = 0
	ClearCredit                     Subclass = 1
	TariffRate                      Subclass = 2
	DecoderKey1                     Subclass = 3 // 1st section of a key change
	DecoderKey2                     Subclass = 4 // 2nd section of a key change
	ClearTamper                     Subclass = 5
	MaximumPhasePowerUnbalanceLimit Subclass = 6
	WaterMeterFactor                Subclass = 7
	DecoderKey3                     Subclass = 8 // 3rd section (128-bit keys)
	DecoderKey4                     Subclass = 9 // 4th section (128-bit keys)
)

var subclassNames = map[Class][]string{
	ClassCredit: {"electricity", "water", "gas", "connection time", "electricity currency"},
	ClassTest:   {"initiate meter test/display 1", "initiate meter test/display 2"},
	ClassManagement: {"set maximum power limit", "clear credit", "set tariff rate",
		"set 1st section decoder key", "set 2nd section decoder key", "clear tamper condition",
		"set maximum phase power unbalance limit", "set water meter factor",
		"set 3rd section decoder key", "set 4th section decoder key"},
}

// SubclassName names a class/subclass pair; reserved pairs give an
// ErrReserved error.
func SubclassName(c Class, s Subclass) (string, error) {
	names := subclassNames[c]
	if int(s) >= len(names) {
		return "", fmt.Errorf("%w: class %d subclass %d", ErrReserved, c, s)
	}
	return names[s], nil
}

// KeyType is the 2-bit decoder key type.
type KeyType uint8

// Decoder key types and, in brackets, the vending key they derive from.
const (
	DITK KeyType = 0 // initialisation transfer key (manufacture and repair only)
	DDTK KeyType = 1 // default transfer key (VDDK)
	DUTK KeyType = 2 // unique transfer key (VUDK)
	DCTK KeyType = 3 // common transfer key (VCDK)
)

// String is the key type's name, e.g. "DUTK".
func (k KeyType) String() string {
	switch k {
	case DITK:
		return "DITK"
	case DDTK:
		return "DDTK"
	case DUTK:
		return "DUTK"
	case DCTK:
		return "DCTK"
	}
	return fmt.Sprintf("KeyType(%d)", uint8(k))
}

// EA is a token encryption algorithm code.
type EA uint8

// Encryption algorithms.
const (
	EA07 EA = 7  // Standard Transfer Algorithm (STA), 64-bit key
	EA09 EA = 9  // Data Encryption Algorithm (DES), 64-bit key
	EA11 EA = 11 // MISTY1, 128-bit key
)

// ParseEA accepts "07", "09", "11" (or "7", "9").
func ParseEA(s string) (EA, error) {
	switch s {
	case "07", "7":
		return EA07, nil
	case "09", "9":
		return EA09, nil
	case "11":
		return EA11, nil
	}
	return 0, fmt.Errorf("%w: encryption algorithm %q (want 07, 09 or 11)", ErrRange, s)
}

// String is the two-digit code, an input to DKGA04.
func (e EA) String() string { return fmt.Sprintf("%02d", uint8(e)) }

// KeySize is the decoder key length in bytes the algorithm needs, 0 for an
// unknown algorithm.
func (e EA) KeySize() int {
	switch e {
	case EA07, EA09:
		return 8
	case EA11:
		return 16
	}
	return 0
}
