package keyagree

import "crypto/rand"

// NewNonce returns NonceSize fresh random bytes from crypto/rand, the NONCE
// of a new Key Load File. The error is that of crypto/rand.Read, which since
// Go 1.24 never fails (it crashes the program instead).
func NewNonce() ([]byte, error) {
	return randomBytes(NonceSize)
}

// NewIV returns IVSize fresh random bytes from crypto/rand, the GCM IV of
// one VK.1 record. Random 96-bit IVs are safe here: one KEK wraps the few
// vending keys of a single file. The error is as for NewNonce.
func NewIV() ([]byte, error) {
	return randomBytes(IVSize)
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
