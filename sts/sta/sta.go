// Package sta implements the STS Standard Transfer Algorithm (EA07), the
// 64-bit block cipher with a 64-bit key that STS prepayment meters use to
// protect tokens (IEC 62055-41).
//
// The substitution and permutation tables of EA07 are licensed material of
// the STS Association. This package never embeds them: an operator supplies
// them in a table file, loaded with LoadTables or ParseTables. The package
// imports only the standard library.
//
// Keys and blocks are big-endian: the 8-byte key in canonical order (as a
// DKGA produces it) is the 64-bit integer K, and an 8-byte block is the
// 64-bit integer B, each with bit 0 the least significant. Nibble n of B is
// bits 4n..4n+3. Encryption is
//
//	k = ROR64(^K, 12)
//	16 times:
//	    for nibble n = 0..15:
//	        sel = (k >> (4n+3)) & 1;  nibble n := (sel ? s2 : s1)[nibble n]
//	    B = P(B)    // output bit p[i] := input bit i
//	    k = ROL64(k, 1)
//
// and decryption is its exact inverse.
package sta

import (
	"crypto/cipher"
	"encoding/binary"
	"math/bits"
	"strconv"

	"github.com/stskms/stskms/sts/internal/block64"
)

const (
	blockSize = block64.Size
	keySize   = 8
	rounds    = 16
)

// KeySizeError is returned by NewCipher for a key that is not 8 bytes long.
// Its value is the length received.
type KeySizeError int

// Error implements error.
func (k KeySizeError) Error() string {
	return "sta: invalid key size " + strconv.Itoa(int(k)) + ", want 8"
}

// Cipher is an EA07 cipher under one key. It is safe for concurrent use as
// long as Rekey is not called at the same time.
type Cipher struct {
	t *Tables
	k uint64 // key register of the first round
}

var _ cipher.Block = (*Cipher)(nil)

// NewCipher returns a cipher under the 8-byte key, given in canonical
// (big-endian) order.
func (t *Tables) NewCipher(key []byte) (*Cipher, error) {
	if len(key) != keySize {
		return nil, KeySizeError(len(key))
	}
	return t.NewCipher64(binary.BigEndian.Uint64(key)), nil
}

// NewCipher64 returns a cipher under key, the big-endian integer form of the
// canonical key bytes.
func (t *Tables) NewCipher64(key uint64) *Cipher {
	return &Cipher{t: t, k: firstRegister(key)}
}

// Reset switches c to an 8-byte key in canonical order, keeping its tables,
// without allocating (as misty1.Cipher.Reset does).
func (c *Cipher) Reset(key []byte) error {
	if len(key) != keySize {
		return KeySizeError(len(key))
	}
	c.Rekey(binary.BigEndian.Uint64(key))
	return nil
}

// Rekey switches c to key, keeping its tables, without allocating.
func (c *Cipher) Rekey(key uint64) {
	c.k = firstRegister(key)
}

// firstRegister returns the key register of the first round.
func firstRegister(key uint64) uint64 {
	return bits.RotateLeft64(^key, -12)
}

// selectors returns the selector pairs of a round with key register k: byte
// j of the result holds bit 8j+3 of k (the selector of nibble 2j) in bit 0 and
// bit 8j+7 (the selector of nibble 2j+1) in bit 1.
func selectors(k uint64) uint64 {
	return k>>3&0x0101010101010101 | k>>6&0x0202020202020202
}

// BlockSize returns the block size, 8 bytes.
func (c *Cipher) BlockSize() int { return blockSize }

// Encrypt encrypts the 8-byte big-endian block src into dst, which may
// overlap it entirely. It panics if either is shorter than a block.
func (c *Cipher) Encrypt(dst, src []byte) { block64.Encrypt(c, "sta", dst, src) }

// Decrypt decrypts the 8-byte big-endian block src into dst, which may
// overlap it entirely. It panics if either is shorter than a block.
func (c *Cipher) Decrypt(dst, src []byte) { block64.Decrypt(c, "sta", dst, src) }

// Encrypt64 encrypts the block b.
func (c *Cipher) Encrypt64(b uint64) uint64 {
	k := c.k
	for range rounds {
		b = c.t.enc.apply(b, selectors(k))
		k = bits.RotateLeft64(k, 1)
	}
	return b
}

// Decrypt64 decrypts the block b.
//
// Encryption is S0 P S1 P … S15 P, where Sr substitutes under the key
// register of round r, ROL64(k, r). Decryption runs the inverses backwards,
// grouped so that each substitution and the permutation after it make one
// table step: P⁻¹ (S15⁻¹ P⁻¹) (S14⁻¹ P⁻¹) … (S1⁻¹ P⁻¹) S0⁻¹.
func (c *Cipher) Decrypt64(b uint64) uint64 {
	t := c.t
	k := bits.RotateLeft64(c.k, rounds-1)
	b = t.permuteInv(b)
	for range rounds - 1 {
		b = t.dec.apply(b, selectors(k))
		k = bits.RotateLeft64(k, -1)
	}
	return t.substituteInv(b, selectors(k))
}

// permuteInv applies the inverse of P to b.
func (t *Tables) permuteInv(b uint64) uint64 {
	var out uint64
	for j := range t.pinv {
		out |= t.pinv[j][b&0xff]
		b >>= 8
	}
	return out
}

// substituteInv undoes the substitution of b under the selector pairs sel
// (laid out as selectors returns them).
func (t *Tables) substituteInv(b, sel uint64) uint64 {
	var out uint64
	for j := 0; j < 64; j += 8 {
		out |= uint64(t.sinv[sel>>j&3][b>>j&0xff]) << j
	}
	return out
}
