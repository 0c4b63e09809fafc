// Package block64 gives the STS 64-bit block ciphers (MISTY1, the
// Standard Transfer Algorithm) their crypto/cipher.Block byte-slice
// methods, written once over the uint64 methods the token code calls.
package block64

import "encoding/binary"

// Size is the block size in bytes.
const Size = 8

// Cipher is a block cipher on 64-bit blocks held as big-endian uint64s.
type Cipher interface {
	Encrypt64(block uint64) uint64
	Decrypt64(block uint64) uint64
}

// Encrypt encrypts the first block of src into dst with c; dst and src may
// overlap entirely. It panics, naming the cipher (name), if either is
// shorter than Size.
func Encrypt(c Cipher, name string, dst, src []byte) {
	check(name, dst, src)
	binary.BigEndian.PutUint64(dst, c.Encrypt64(binary.BigEndian.Uint64(src)))
}

// Decrypt is Encrypt's inverse, with the same rules.
func Decrypt(c Cipher, name string, dst, src []byte) {
	check(name, dst, src)
	binary.BigEndian.PutUint64(dst, c.Decrypt64(binary.BigEndian.Uint64(src)))
}

func check(name string, dst, src []byte) {
	if len(src) < Size {
		panic(name + ": input not full block")
	}
	if len(dst) < Size {
		panic(name + ": output not full block")
	}
}
