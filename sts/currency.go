package sts

import (
	"fmt"
	"math/big"
	"strings"
)

// CurrencyCredit is a class 0 currency transfer-credit token (STS 531-1
// Ed. 2.2, IEC 62055-41 Ed. 3): a signed CurrencyAmount in units of 0.00001
// of the currency instead of an Amount in tenths, no RND, and CRC_C instead
// of the ordinary CRC (docs/tokens.md §3, §5). In the data block, bits
// 16..31 hold Amount bits 15..0, bits 32..55 the TID, bits 56..59 Amount
// bits 19..16 and bits 60..63 the subclass.
//
// Only ElectricityCurrency is typed. Subclasses 5..7 (water, gas and time
// currency in Ed. 3) take CRC_C from NewBlock but are still reserved for
// Encode and Decode.
type CurrencyCredit struct {
	Sub    Subclass       // ElectricityCurrency
	TID    uint32         // minutes since the meter's base date
	Amount CurrencyAmount // signed, in units of 0.00001 of the currency; a negative amount is a debit
}

// Class returns ClassCredit.
func (CurrencyCredit) Class() Class { return ClassCredit }

// Subclass returns the currency credit subclass.
func (t CurrencyCredit) Subclass() Subclass { return t.Sub }

// Encode encodes the token under c; see the package-level Encode.
func (t CurrencyCredit) Encode(c Cipher) (Number, error) {
	p, err := t.payload()
	return encode(ClassCredit, p, err, c)
}

// payload rejects a subclass other than ElectricityCurrency with
// ErrReserved and an Amount above 20 bits with ErrRange.
func (t CurrencyCredit) payload() (uint64, error) {
	switch {
	case t.Sub < ElectricityCurrency:
		return 0, fmt.Errorf("%w: credit subclass %d is not a currency subclass (a Credit token)", ErrReserved, t.Sub)
	case t.Sub > ElectricityCurrency:
		return 0, fmt.Errorf("%w: currency credit subclass %d", ErrReserved, t.Sub)
	case t.Amount > currencyFieldMask:
		return 0, fmt.Errorf("%w: currency amount field %#x does not fit 20 bits", ErrRange, uint32(t.Amount))
	}
	return timed(t.Sub, t.TID, uint8(t.Amount>>16), uint16(t.Amount))
}

// currencyField reads the CurrencyAmount of a currency credit payload: bits
// 19..16 from the RND position, bits 15..0 from the amount position.
func currencyField(p uint64) CurrencyAmount {
	return CurrencyAmount(rndField(p))<<16 | CurrencyAmount(uint16(p))
}

// CurrencyAmount is the transfer amount of a currency credit token (class 0
// subclasses 4..7), a 20-bit field: bit 19 the sign, bits 18..14 the
// exponent e (0..31), bits 13..0 the mantissa m. The magnitude is, as for
// Amount but with 32 exponents,
//
//	m·10^e + Σ_{i=1..e} 2^14·10^(i−1)
//
// in units of 0.00001 of the currency. In the data block bits 15..0 of the
// field sit where a credit token's amount is (bits 16..31) and bits 19..16
// where its RND is (bits 56..59). Pinned by the 45 currency tokens of
// STS 531-1-07/-11 Ed. 2.2 (docs/tokens.md §5).
type CurrencyAmount uint32

// currencyFieldMask covers the 20 bits of a CurrencyAmount.
const currencyFieldMask = 1<<20 - 1

// Negative reports whether the sign bit is set.
func (a CurrencyAmount) Negative() bool { return a>>19&1 == 1 }

// Exponent returns the 5-bit exponent.
func (a CurrencyAmount) Exponent() int { return int(a>>14) & 31 }

// Mantissa returns the 14-bit mantissa.
func (a CurrencyAmount) Mantissa() uint16 { return uint16(a) & 0x3FFF }

// Value returns the signed amount in units of 0.00001 of the currency. Bits
// above 19 are ignored; the sign bit with a zero magnitude is 0.
func (a CurrencyAmount) Value() *big.Int {
	e := a.Exponent()
	v := new(big.Int).Mul(big.NewInt(int64(a.Mantissa())), currencyPow10[e])
	v.Add(v, currencyBase[e])
	if a.Negative() {
		v.Neg(v)
	}
	return v
}

// String returns the value in currency units with five decimals, as
// FormatCurrency prints it: "12.34567", "-0.99994".
func (a CurrencyAmount) String() string { return FormatCurrency(a.Value()) }

// currencyPow10[e] is 10^e and currencyBase[e] the magnitude of mantissa 0
// with exponent e, 2^14·(10^e − 1)/9.
var currencyPow10, currencyBase = func() (p, b [32]*big.Int) {
	for e := range p {
		p[e] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil)
		b[e] = new(big.Int).Sub(p[e], big.NewInt(1))
		b[e].Mul(b[e], big.NewInt(1<<14))
		b[e].Div(b[e], big.NewInt(9))
	}
	return p, b
}()

// currencyMax returns the largest magnitude exponent e represents.
func currencyMax(e int) *big.Int {
	v := new(big.Int).Mul(big.NewInt(16_383), currencyPow10[e])
	return v.Add(v, currencyBase[e])
}

// EncodeCurrencyAmount encodes v, a signed amount in units of 0.00001 of the
// currency. A value that is not representable is rounded towards +∞: a
// credit up, a debit to the next smaller magnitude (Ed. 2.2 CTSA20: 1 →
// 1.00004, −1 → −0.99994). A magnitude above the largest representable one
// is ErrAmountTooLarge. Zero is encoded without the sign bit.
func EncodeCurrencyAmount(v *big.Int) (CurrencyAmount, error) {
	mag := new(big.Int).Abs(v)
	up := v.Sign() > 0
	for e := range 32 {
		if mag.Cmp(currencyMax(e)) > 0 {
			continue
		}
		var m int64
		switch d := new(big.Int).Sub(mag, currencyBase[e]); {
		case d.Sign() < 0: // between the ranges of e−1 and e
			if !up {
				e, m = e-1, 16_383
			}
		default:
			q, r := d.QuoRem(d, currencyPow10[e], new(big.Int))
			m = q.Int64()
			if up && r.Sign() != 0 {
				m++ // at most 16 383: mag ≤ currencyMax(e)
			}
		}
		a := CurrencyAmount(e)<<14 | CurrencyAmount(m)
		if v.Sign() < 0 {
			a |= 1 << 19
		}
		return a, nil
	}
	return 0, fmt.Errorf("%w: currency amount %s (magnitude above %s)", ErrAmountTooLarge, v, currencyMax(31))
}

// currencyDecimals is the number of decimals of a currency unit that a
// currency amount resolves: units of 0.00001.
const currencyDecimals = 5

// maxCurrencyDigits bounds the whole part that ParseCurrency reads, leading
// zeros aside: 64 digits, far above the 30 of the largest currency amount.
const maxCurrencyDigits = 64

// ParseCurrency parses a decimal amount of currency such as "12.34567",
// "-0.5" or "100" into units of 0.00001: an optional leading '-', digits,
// optionally '.' and more digits, at least one digit in all (no '+', no
// exponent, no spaces or grouping; anything else is ErrRange). Up to five
// decimals are exact. Digits beyond the fifth decimal round towards +∞, as
// EncodeCurrencyAmount rounds: "0.000011" → 2, "-0.000011" → −1, so a
// credit is never less and a debit never more than was asked. A whole part
// of more than 64 significant digits is ErrAmountTooLarge; otherwise the
// result has no bound, and EncodeCurrencyAmount rejects what a token cannot
// carry.
func ParseCurrency(s string) (*big.Int, error) {
	neg := strings.HasPrefix(s, "-")
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return nil, fmt.Errorf("%w: %q is not a decimal amount of currency", ErrRange, s)
	}
	if len(strings.TrimLeft(whole, "0")) > maxCurrencyDigits {
		return nil, fmt.Errorf("%w: currency amount %q", ErrAmountTooLarge, s)
	}
	extra := ""
	if len(frac) > currencyDecimals {
		frac, extra = frac[:currencyDecimals], frac[currencyDecimals:]
	}
	digits := "0" + whole + frac + strings.Repeat("0", currencyDecimals-len(frac))
	v, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a decimal amount of currency", ErrRange, s)
	}
	if neg {
		v.Neg(v)
	}
	if strings.Trim(extra, "0") != "" && !neg {
		v.Add(v, big.NewInt(1)) // towards +∞; a debit's magnitude is truncated
	}
	return v, nil
}

// FormatCurrency prints v, an amount in units of 0.00001 of the currency,
// as a decimal number of currency units with five decimals: "12.34567",
// "-0.99994", "0.00000". ParseCurrency reads it back exactly.
func FormatCurrency(v *big.Int) string {
	s := new(big.Int).Abs(v).String()
	if len(s) <= currencyDecimals {
		s = strings.Repeat("0", currencyDecimals+1-len(s)) + s
	}
	s = s[:len(s)-currencyDecimals] + "." + s[len(s)-currencyDecimals:]
	if v.Sign() < 0 {
		s = "-" + s
	}
	return s
}
