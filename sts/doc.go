// Package sts is the STS prepayment token engine of IEC 62055-41: the 64-bit
// data block of every token class, its CRC-16, the class-bit transposition
// into a 66-bit number and its 20 decimal digits, token identifiers (TID) and
// base dates, the exponent/mantissa amount encoding, meter primary account
// numbers (PAN) with their Luhn check digits, key-change token sets, and
// encryption under a decoder key with EA07 (STA), EA09 (DEA) or EA11 (MISTY1).
//
// The block ciphers live in sts/sta and sts/misty1, decoder key generation
// (DKGA02, DKGA04) in sts/dkga. This package and its sub-packages import only
// the standard library and each other; nothing else of stskms.
//
// Bit numbering: a data block is a uint64 whose bit 0 is the least
// significant bit; fields are listed low to high. Keys are in canonical byte
// order, the order the DKGA produces them. docs/tokens.md describes every
// bit- and byte-order quirk next to the vector that pins it.
package sts
