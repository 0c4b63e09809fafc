package sts

import (
	"crypto/cipher"
	"crypto/des"
	"encoding/binary"
	"fmt"

	"github.com/stskms/stskms/sts/misty1"
	"github.com/stskms/stskms/sts/sta"
)

// Cipher encrypts and decrypts 64-bit data blocks under one decoder key.
// *sta.Cipher and *misty1.Cipher are Ciphers; NewCipher picks by algorithm.
type Cipher interface {
	Encrypt64(block uint64) uint64
	Decrypt64(block uint64) uint64
}

// NewCipher returns the token cipher of an encryption algorithm keyed with a
// decoder key in canonical byte order: 8 bytes for EA07 and EA09, 16 for
// EA11. EA07 needs the operator's STA tables.
func NewCipher(ea EA, key []byte, tables *sta.Tables) (Cipher, error) {
	if want := ea.KeySize(); want == 0 {
		return nil, fmt.Errorf("%w: encryption algorithm %d", ErrRange, uint8(ea))
	} else if len(key) != want {
		return nil, fmt.Errorf("%w: EA%s needs a %d-byte key, got %d bytes", ErrKey, ea, want, len(key))
	}
	switch ea {
	case EA07:
		if tables == nil {
			return nil, fmt.Errorf("%w: EA07 needs STA tables (--sta-tables or STSKMS_STA_TABLES)", ErrKey)
		}
		return tables.NewCipher(key)
	case EA09:
		return newDEA(key)
	default:
		return misty1.New(key)
	}
}

func newDEA(key []byte) (Cipher, error) {
	b, err := des.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return deaCipher{b}, nil
}

// deaCipher is EA09: single DES on the data block as 8 bytes big-endian.
// Parity bits of the key are ignored, as DES does.
type deaCipher struct{ b cipher.Block }

func (d deaCipher) Encrypt64(v uint64) uint64 {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	d.b.Encrypt(buf[:], buf[:])
	return binary.BigEndian.Uint64(buf[:])
}

func (d deaCipher) Decrypt64(v uint64) uint64 {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	d.b.Decrypt(buf[:], buf[:])
	return binary.BigEndian.Uint64(buf[:])
}
