package keyagree

import (
	"crypto/des"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// KCVSize is the length of a key check value (6 hex digits).
const KCVSize = 3

// KCV returns the 3-byte key check value of a vending key, for the KCV
// field of VK.1 (kms-records.md §3.5):
//
//   - an 8-byte (DES, DKGA02) key: the first 3 bytes of DES-ECB(VK, 0⁸), the
//     classic check value (0123456789ABCDEF gives D5D44F);
//   - any other length (DKGA04 and later): the first 3 bytes of
//     HMAC-SHA-256(VK, 32 zero bytes), our own convention.
//
// vk must be MinVendingKeySize to MaxVendingKeySize bytes (ErrLength). A KCV
// identifies a key; it does not authenticate one.
func KCV(vk []byte) ([]byte, error) {
	if len(vk) < MinVendingKeySize || len(vk) > MaxVendingKeySize {
		return nil, fmt.Errorf("%w: vending key is %d bytes, want %d to %d", ErrLength, len(vk), MinVendingKeySize, MaxVendingKeySize)
	}
	if len(vk) == 8 {
		c, err := des.NewCipher(vk)
		if err != nil {
			return nil, fmt.Errorf("keyagree: DES: %w", err)
		}
		var out [des.BlockSize]byte
		c.Encrypt(out[:], out[:])
		return out[:KCVSize:KCVSize], nil
	}
	m := hmac.New(sha256.New, vk)
	m.Write(make([]byte, 32))
	return m.Sum(nil)[:KCVSize:KCVSize], nil
}
