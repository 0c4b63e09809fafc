package sts

import "fmt"

// PAN is a meter primary account number: IIN ‖ DRN ‖ PAN check digit, 18
// digits. The IIN is "600727" with an 11-digit DRN, or "0000" with a 13-digit
// DRN; the DRN (decoder reference number, the meter number) ends in its own
// Luhn check digit. A PAN value is always valid.
type PAN struct {
	digits string // 18 digits
	iinLen int    // 6 or 4
}

// NewPAN builds a PAN from an IIN and a DRN (with its check digit), adding
// the PAN check digit.
func NewPAN(iin, drn string) (PAN, error) {
	if err := checkIINDRN(iin, drn); err != nil {
		return PAN{}, err
	}
	var buf [18]byte
	body := append(append(buf[:0], iin...), drn...)
	return PAN{digits: string(append(body, '0'+luhnBytes(body))), iinLen: len(iin)}, nil
}

// ParsePAN parses an 18-digit PAN and checks both check digits.
func ParsePAN(s string) (PAN, error) {
	if len(s) != 18 || !allDigits(s) {
		return PAN{}, &DigitsError{Field: "PAN", Rule: "18 decimal digits (IIN, DRN and check digit)", Value: s}
	}
	iinLen := 6
	if s[:4] == "0000" {
		iinLen = 4
	}
	p, err := NewPAN(s[:iinLen], s[iinLen:17])
	if err != nil {
		return PAN{}, err
	}
	if p.digits != s {
		return PAN{}, fmt.Errorf("%w: PAN %s (check digit should be %c)", ErrCheckDigit, s, p.digits[17])
	}
	return p, nil
}

func checkIINDRN(iin, drn string) error {
	want := 11 // DRN digits with a 6-digit IIN; 13 with IIN 0000
	switch {
	case len(iin) == 6 && allDigits(iin) && iin[:4] != "0000":
	case iin == "0000":
		want = 13
	default:
		return &DigitsError{Field: "IIN", Rule: "6 decimal digits not starting 0000, or 0000", Value: iin}
	}
	if len(drn) != want || !allDigits(drn) {
		return &DigitsError{Field: "DRN", Rule: fmt.Sprintf("%d decimal digits with IIN %s", want, iin), Value: drn}
	}
	body, check := drn[:len(drn)-1], drn[len(drn)-1]
	if want := '0' + luhn(body); check != want {
		return fmt.Errorf("%w: DRN %s (check digit should be %c)", ErrCheckDigit, drn, want)
	}
	return nil
}

// String returns the 18 digits.
func (p PAN) String() string { return p.digits }

// IIN returns the issuer identification number ("600727" or "0000").
func (p PAN) IIN() string { return p.digits[:p.iinLen] }

// DRN returns the decoder reference number with its check digit.
func (p PAN) DRN() string { return p.digits[p.iinLen:17] }

// IsZero reports whether p is the zero value (no PAN).
func (p PAN) IsZero() bool { return p.digits == "" }

// LuhnDigit returns the Luhn (mod 10) check digit of a string of decimal
// digits: every second digit from the rightmost is doubled.
func LuhnDigit(digits string) (byte, error) {
	if !allDigits(digits) {
		return 0, fmt.Errorf("%w: Luhn check digit of a non-digit string", ErrRange)
	}
	return '0' + luhn(digits), nil
}

func luhn(digits string) byte { return luhnBytes([]byte(digits)) }

// doubledDigitSum[d] is the digit sum of 2·d (indexed by d&15, so the
// compiler needs no bounds check; only 0..9 occur).
var doubledDigitSum = [16]int{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}

func luhnBytes(digits []byte) byte {
	sum := 0
	for i := len(digits) - 1; i >= 0; i -= 2 { // the rightmost digit is doubled
		sum += doubledDigitSum[(digits[i]-'0')&15]
	}
	for i := len(digits) - 2; i >= 0; i -= 2 {
		sum += int(digits[i] - '0')
	}
	return byte((10 - sum%10) % 10)
}
