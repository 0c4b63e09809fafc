package sts

import (
	"fmt"
	"math/bits"
)

// Digits is the number of decimal digits of a token.
const Digits = 20

const tenDigits = 10_000_000_000

// Number is a 66-bit token number: the (encrypted) 64-bit data block with
// the two class bits transposed into it, as typed on the meter's keypad.
type Number struct {
	hi uint8  // bits 64 and 65
	lo uint64 // bits 0..63
}

// transpose builds the 66-bit token from a class and the 64-bit (encrypted)
// block: data bits 27 and 28 move to bits 64 and 65 and the class bits take
// their place (class bit 0 at 27, class bit 1 at 28).
func transpose(class Class, block uint64) Number {
	const mask = 1<<27 | 1<<28
	moved := uint8(block>>27) & 3
	return Number{hi: moved, lo: block&^mask | uint64(class&3)<<27}
}

// untranspose is the inverse of transpose.
func (n Number) untranspose() (Class, uint64) {
	const mask = 1<<27 | 1<<28
	class := Class(n.lo>>27) & 3
	return class, n.lo&^mask | uint64(n.hi&3)<<27
}

// String returns the token as 20 decimal digits, zero-padded.
func (n Number) String() string {
	var buf [Digits]byte
	return string(n.AppendDigits(buf[:0]))
}

// AppendDigits appends the 20 decimal digits of the token to dst.
func (n Number) AppendDigits(dst []byte) []byte {
	q, r := bits.Div64(uint64(n.hi), n.lo, tenDigits)
	dst = appendPadded(dst, q)
	return appendPadded(dst, r)
}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendPadded appends v < 10^10 as exactly ten digits, two at a time.
func appendPadded(dst []byte, v uint64) []byte {
	var buf [10]byte
	for i := 8; i >= 0; i -= 2 {
		pair := v % 100 * 2
		buf[i], buf[i+1] = digitPairs[pair], digitPairs[pair+1]
		v /= 100
	}
	return append(dst, buf[:]...)
}

// ParseNumber parses a token of exactly 20 decimal digits. Spaces and
// hyphens, as tokens are often printed in groups of four, are ignored.
func ParseNumber(s string) (Number, error) {
	var digits [Digits]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c < '0' || c > '9':
			return Number{}, fmt.Errorf("%w: non-digit character at position %d", ErrFormat, i+1)
		case n == Digits:
			return Number{}, fmt.Errorf("%w: more than %d digits", ErrFormat, Digits)
		}
		digits[n] = c - '0'
		n++
	}
	if n != Digits {
		return Number{}, fmt.Errorf("%w: %d digits, want %d", ErrFormat, n, Digits)
	}
	hi, lo := bits.Mul64(decimal(digits[:10]), tenDigits)
	lo, carry := bits.Add64(lo, decimal(digits[10:]), 0)
	hi += carry
	if hi > 3 {
		return Number{}, fmt.Errorf("%w: value is 2^66 or more", ErrFormat)
	}
	return Number{hi: uint8(hi), lo: lo}, nil
}

func decimal(digits []byte) uint64 {
	var v uint64
	for _, d := range digits {
		v = v*10 + uint64(d)
	}
	return v
}
