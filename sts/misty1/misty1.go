// Package misty1 implements the MISTY1 block cipher exactly as specified in
// RFC 2994: a 64-bit block, a 128-bit key and the recommended eight rounds.
//
// It exists for the STS prepayment token engine, which uses MISTY1 as
// encryption algorithm EA11 and holds each 64-bit token block as a uint64
// whose big-endian bytes are the block. Encrypt64 and Decrypt64 serve that
// hot path without allocating; Cipher also implements crypto/cipher.Block for
// byte-oriented callers.
//
// The package imports only the standard library.
package misty1

import (
	"crypto/cipher"
	"strconv"

	"github.com/stskms/stskms/sts/internal/block64"
)

const (
	// BlockSize is the MISTY1 block size in bytes.
	BlockSize = block64.Size
	// KeySize is the MISTY1 key size in bytes.
	KeySize = 16
)

// KeySizeError is returned for a key that is not KeySize bytes long. Its
// value is the length of the rejected key; the key itself is never reported.
type KeySizeError int

// Error describes the invalid key length.
func (k KeySizeError) Error() string {
	return "misty1: invalid key size " + strconv.Itoa(int(k))
}

// Cipher is a MISTY1 cipher with an expanded key. Encryption and decryption
// are safe for concurrent use; Reset is not safe to call concurrently with
// any other method.
type Cipher struct {
	fo [8]foKey  // FO subkeys, indexed by round
	fl [10]flKey // FL and FLINV subkeys, indexed by the RFC's k
}

var _ cipher.Block = (*Cipher)(nil)

// New returns a Cipher for the 16-byte key, or a KeySizeError if the key has
// any other length.
func New(key []byte) (*Cipher, error) {
	c := new(Cipher)
	if err := c.Reset(key); err != nil {
		return nil, err
	}
	return c, nil
}

// Reset re-keys c in place without allocating, so a long-lived Cipher can
// serve many keys. It returns a KeySizeError, leaving c unchanged, if key is
// not KeySize bytes long.
func (c *Cipher) Reset(key []byte) error {
	if len(key) != KeySize {
		return KeySizeError(len(key))
	}
	ek := expandKey(key)
	for k := range c.fo {
		c.fo[k] = newFOKey(&ek, k)
	}
	for k := range c.fl {
		c.fl[k] = newFLKey(&ek, k)
	}
	return nil
}

// BlockSize returns the MISTY1 block size, BlockSize.
func (c *Cipher) BlockSize() int { return BlockSize }

// Encrypt encrypts the first block of src into dst. It panics if either
// slice is shorter than BlockSize. dst and src may overlap entirely.
func (c *Cipher) Encrypt(dst, src []byte) { block64.Encrypt(c, "misty1", dst, src) }

// Decrypt decrypts the first block of src into dst. It panics if either
// slice is shorter than BlockSize. dst and src may overlap entirely.
func (c *Cipher) Decrypt(dst, src []byte) { block64.Decrypt(c, "misty1", dst, src) }

// Encrypt64 encrypts the block whose big-endian encoding is b. It is the
// same permutation as Encrypt and does not allocate.
func (c *Cipher) Encrypt64(b uint64) uint64 {
	d0, d1 := uint32(b>>32), uint32(b)
	for k := 0; k < 8; k += 2 {
		d0 = c.fl[k].forward(d0)
		d1 = c.fl[k+1].forward(d1)
		d1 ^= c.fo[k].apply(d0)
		d0 ^= c.fo[k+1].apply(d1)
	}
	d0 = c.fl[8].forward(d0)
	d1 = c.fl[9].forward(d1)
	return uint64(d1)<<32 | uint64(d0)
}

// Decrypt64 decrypts the block whose big-endian encoding is b. It is the
// same permutation as Decrypt and does not allocate.
func (c *Cipher) Decrypt64(b uint64) uint64 {
	d1, d0 := uint32(b>>32), uint32(b)
	d0 = c.fl[8].inverse(d0)
	d1 = c.fl[9].inverse(d1)
	for k := 6; k >= 0; k -= 2 {
		d0 ^= c.fo[k+1].apply(d1)
		d1 ^= c.fo[k].apply(d0)
		d0 = c.fl[k].inverse(d0)
		d1 = c.fl[k+1].inverse(d1)
	}
	return uint64(d0)<<32 | uint64(d1)
}
