package sts

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Amount is a 16-bit exponent/mantissa encoded quantity: bits 15..14 hold
// the exponent e, bits 13..0 the mantissa m, and the value is
//
//	m·10^e + Σ_{i=1..e} 2^14·10^(i−1)
//
// Class 0 tokens carry the credit in tenths of the subclass's base unit
// (0.1 kWh, 0.1 m³, …); the maximum power limit and the maximum phase power
// unbalance limit use the same encoding for watts.
type Amount uint16

// MaxAmount is the largest encodable value: 18 201 624 (1 820 162.4 kWh).
const MaxAmount = 18_201_624

// amountBase[e] is the value of mantissa 0 with exponent e.
var amountBase = [4]uint64{0, 16_384, 180_224, 1_818_624}

var pow10 = [4]uint64{1, 10, 100, 1000}

// EncodeAmount encodes v, rounding up to the next representable value when v
// is not exactly representable (as public implementations do, citing the
// maximum rounding error of IEC 62055-41). Amount.Value reports what was
// actually encoded. Values above MaxAmount are an error, never a wrap.
func EncodeAmount(v uint64) (Amount, error) {
	if v > MaxAmount {
		return 0, fmt.Errorf("%w: %d > %d", ErrAmountTooLarge, v, uint64(MaxAmount))
	}
	e := 3
	for e > 0 && v <= amountMax(e-1) {
		e--
	}
	var m uint64
	if v > amountBase[e] {
		m = (v - amountBase[e] + pow10[e] - 1) / pow10[e]
	}
	return Amount(uint64(e)<<14 | m), nil
}

// amountMax is the largest value exponent e can represent.
func amountMax(e int) uint64 { return amountBase[e] + 16_383*pow10[e] }

// Value returns the decoded value.
func (a Amount) Value() uint64 {
	e := a >> 14
	return uint64(a&0x3FFF)*pow10[e] + amountBase[e]
}

// ParseTenths parses a non-negative decimal quantity such as "25.6" and
// returns it in tenths, rounded up when it has more than one decimal
// ("25.61" → 257), so the customer never receives less than was paid for.
func ParseTenths(s string) (uint64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%w: %q is not a non-negative decimal number", ErrRange, s)
	}
	w, err := strconv.ParseUint("0"+whole, 10, 64)
	if err != nil || w > math.MaxUint64/10-1 {
		return 0, fmt.Errorf("%w: %q", ErrAmountTooLarge, s)
	}
	tenths := w * 10
	if frac != "" {
		tenths += uint64(frac[0] - '0')
		if strings.Trim(frac[1:], "0") != "" {
			tenths++ // round up
		}
	}
	return tenths, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
