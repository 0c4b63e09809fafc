package sts

import "errors"

// Errors returned by the token engine. Callers test them with errors.Is; the
// returned errors wrap them with detail (which field, which value) but never
// with key material.
var (
	// ErrFormat: not 20 decimal digits, or a value of 2^66 or more.
	ErrFormat = errors.New("sts: token format error")
	// ErrCRC: the CRC of the decrypted data block does not match, so the
	// token was made for another key or was mistyped.
	ErrCRC = errors.New("sts: CRC mismatch")
	// ErrReserved: a reserved token class or subclass.
	ErrReserved = errors.New("sts: reserved token class or subclass")
	// ErrRange: a field value outside its range.
	ErrRange = errors.New("sts: value out of range")
	// ErrNoKey: the token class needs a decoder key and none was given.
	ErrNoKey = errors.New("sts: decoder key required")
	// ErrKey: a decoder key of the wrong length or an unusable cipher.
	ErrKey = errors.New("sts: invalid decoder key")
	// ErrCheckDigit: a PAN or DRN whose Luhn check digit is wrong.
	ErrCheckDigit = errors.New("sts: check digit mismatch")
	// ErrBeforeBaseDate: a time before the base date has no TID.
	ErrBeforeBaseDate = errors.New("sts: time before base date")
	// ErrTIDRollover: a time 2^24 minutes or more after the base date; the
	// meter needs a key change to a later base date.
	ErrTIDRollover = errors.New("sts: TID rollover (time beyond the 24-bit TID range of the base date)")
	// ErrAmountTooLarge: an amount above the largest encodable value.
	ErrAmountTooLarge = errors.New("sts: amount above maximum")
)
