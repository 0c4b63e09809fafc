package sts

import (
	"fmt"
	"strconv"
)

// Digit strings. IEC 62055-41 writes the supply group code, tariff index,
// key revision number, IIN, DRN and PAN as strings of decimal digits of a
// fixed width. The parsers below are the one place where such a string is
// read, for every interface (flags, JSON, configuration, records, STS6):
// exactly the width, ASCII '0'..'9' only — no sign, no space, no base
// prefix, no other script's digits — and a leading zero is a digit, never a
// base ("012345" is supply group 012345).

// Widths and ranges of the digit fields.
const (
	SGCDigits = 6 // supply group code
	TIDigits  = 2 // tariff index
	KRNDigits = 1 // key revision number

	// MaxTI is the largest tariff index.
	MaxTI = 99
	// MinKRN and MaxKRN bound the key revision number: one decimal digit,
	// 1 to 9 (IEC 62055-41; 0 is not a revision).
	MinKRN, MaxKRN = 1, 9
)

// DigitsError is a digit string that breaks its field's rule: the wrong
// width, a character that is not an ASCII digit, or a value out of range.
// It wraps ErrRange, so errors.Is(err, ErrRange) holds.
type DigitsError struct {
	Field string // "SGC", "TI", "KRN", "IIN", "DRN", "PAN"
	Rule  string // e.g. "6 decimal digits"
	Value string // the input as given
}

// maxQuoted bounds how much of a refused input an error repeats.
const maxQuoted = 32

func (e *DigitsError) Error() string {
	v := e.Value
	if len(v) > maxQuoted {
		v = v[:maxQuoted] + "…"
	}
	return fmt.Sprintf("%v: %s must be %s, not %q", ErrRange, e.Field, e.Rule, v)
}

// Unwrap returns ErrRange.
func (e *DigitsError) Unwrap() error { return ErrRange }

// digits returns the value of s, which must be exactly width ASCII decimal
// digits (width ≤ 18, so the value fits).
func digits(field, rule, s string, width int) (uint64, error) {
	if len(s) != width || !allDigits(s) {
		return 0, &DigitsError{Field: field, Rule: rule, Value: s}
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v*10 + uint64(s[i]-'0')
	}
	return v, nil
}

// ParseSGC parses a supply group code: exactly 6 decimal digits.
func ParseSGC(s string) (uint32, error) {
	v, err := digits("SGC", "6 decimal digits", s, SGCDigits)
	return uint32(v), err
}

// ParseTI parses a tariff index: exactly 2 decimal digits ("08" is 8).
func ParseTI(s string) (uint8, error) {
	v, err := digits("TI", "2 decimal digits", s, TIDigits)
	return uint8(v), err
}

// ParseKRN parses a key revision number: one decimal digit, 1 to 9.
func ParseKRN(s string) (uint8, error) {
	const rule = "1 decimal digit, 1 to 9"
	v, err := digits("KRN", rule, s, KRNDigits)
	if err == nil && v < MinKRN {
		err = &DigitsError{Field: "KRN", Rule: rule, Value: s}
	}
	return uint8(v), err
}

// CheckSGC checks a supply group code given as a number (a JSON number, a
// database column): 0 to 999999. Its digit string is FormatSGC's.
func CheckSGC(v int64) error {
	if v < 0 || v > MaxSGC {
		return &DigitsError{Field: "SGC", Rule: "6 decimal digits", Value: strconv.FormatInt(v, 10)}
	}
	return nil
}

// CheckTI checks a tariff index given as a number: 0 to 99.
func CheckTI(v int64) error {
	if v < 0 || v > MaxTI {
		return &DigitsError{Field: "TI", Rule: "2 decimal digits", Value: strconv.FormatInt(v, 10)}
	}
	return nil
}

// CheckKRN checks a key revision number given as a number: 1 to 9.
func CheckKRN(v int64) error {
	if v < MinKRN || v > MaxKRN {
		return &DigitsError{Field: "KRN", Rule: "1 decimal digit, 1 to 9", Value: strconv.FormatInt(v, 10)}
	}
	return nil
}

// FormatSGC returns the 6 digits of a supply group code.
func FormatSGC(sgc uint32) string { return fmt.Sprintf("%06d", sgc) }

// FormatTI returns the 2 digits of a tariff index.
func FormatTI(ti uint8) string { return fmt.Sprintf("%02d", ti) }
