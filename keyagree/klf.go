package keyagree

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha512"
	"fmt"
	"io"
)

// Sizes of the Key Load File values, in bytes.
const (
	// NonceSize is the length of the KLF.HDR.1 NONCE, the HKDF salt of the
	// KLF keys (64 hex digits).
	NonceSize = 32
	// IVSize is the length of the AES-GCM IV of a VK.1 record (24 hex
	// digits).
	IVSize = 12
	// GCMTagSize is the length of the GCM tag that ends a wrapped key.
	GCMTagSize = 16
	// KEKSize is the length of the AES-256 key encryption key.
	KEKSize = 32
	// MACKeySize is the length of K_mac.
	MACKeySize = 48
	// MACSize is the length of the KLF.END.1 MAC (48 hex digits).
	MACSize = TagSize
	// MinVendingKeySize is the shortest vending key that Wrap, Unwrap and
	// KCV accept: a DKGA02 (DES) key. DKGA04 keys are 20 bytes.
	MinVendingKeySize = 8
	// MaxVendingKeySize is the longest vending key they accept, room for
	// longer keys of later algorithms.
	MaxVendingKeySize = 64
)

// KLFKeys holds the two keys of one Key Load File, derived by
// DeriveKLFKeys: the AES-256 KEK that wraps each vending key and K_mac of
// the closing MAC. The keys are unexported and never printed (the fmt verbs
// print a placeholder). Use a *KLFKeys, do not copy the struct, and call
// Zero once the file has been built or loaded. The zero KLFKeys is unusable:
// its methods return ErrKeysZeroed.
//
// A KLFKeys is safe for concurrent use by several goroutines as long as Zero
// is not called concurrently with the other methods.
type KLFKeys struct {
	kek  [KEKSize]byte
	mac  [MACKeySize]byte
	live bool
}

// DeriveKLFKeys derives the keys of a Key Load File (kms-records.md §3.5):
//
//	OKM = HKDF-SHA-384(salt = NONCE, IKM = Z,
//	                   info = "STS-KLF.1|" + SMID + "|" + KMCID + "|" + t_req + "|", L = 80)
//	KEK = OKM[0:32], K_mac = OKM[32:80]
//
// z is the 48-byte shared secret and nonce the 32 bytes of the KLF.HDR.1
// NONCE field (ErrLength otherwise); the KMC draws a fresh nonce for every
// file (NewNonce), so the KEK is fresh although both ECDH keys are static.
// smid, kmcid and tReq are as for RequestKey; tReq is the t_req of the
// request the file answers, echoed in KLF.HDR.1.
func DeriveKLFKeys(z, nonce []byte, smid, kmcid, tReq string) (*KLFKeys, error) {
	if err := checkLen("Z", z, SharedSecretSize); err != nil {
		return nil, err
	}
	if err := checkLen("NONCE", nonce, NonceSize); err != nil {
		return nil, err
	}
	if err := checkIDs(smid, kmcid, tReq); err != nil {
		return nil, err
	}
	info := klfInfoPrefix + smid + "|" + kmcid + "|" + tReq + "|"
	okm, err := hkdf.Key(sha512.New384, z, nonce, info, KEKSize+MACKeySize)
	if err != nil {
		return nil, fmt.Errorf("keyagree: HKDF: %w", err)
	}
	k := &KLFKeys{live: true}
	copy(k.kek[:], okm[:KEKSize])
	copy(k.mac[:], okm[KEKSize:])
	clear(okm)
	return k, nil
}

// Zero overwrites both keys with zeros; afterwards every method returns
// ErrKeysZeroed. Zero on a nil or already zeroed KLFKeys does nothing.
// (Copies the Go runtime or the AES implementation made while the keys were
// in use are beyond its reach.)
func (k *KLFKeys) Zero() {
	if k == nil {
		return
	}
	clear(k.kek[:])
	clear(k.mac[:])
	k.live = false
}

// Format prints a placeholder for every verb, so that no key reaches a log
// through fmt.
func (KLFKeys) Format(f fmt.State, _ rune) {
	io.WriteString(f, "keyagree.KLFKeys{REDACTED}")
}

func (k *KLFKeys) check() error {
	if k == nil || !k.live {
		return ErrKeysZeroed
	}
	return nil
}

func (k *KLFKeys) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.kek[:])
	if err != nil {
		return nil, fmt.Errorf("keyagree: AES: %w", err)
	}
	return cipher.NewGCM(block)
}

// Wrap encrypts a vending key for a VK.1 record (kms-records.md §3.5):
//
//	CT = AES-256-GCM(KEK, IV, plaintext = VK, AAD = ASCII(aad))
//
// and returns ciphertext‖16-byte tag, len(vk)+GCMTagSize bytes, for the CT
// field. aad is the VK.1 record from "VK.1|" through the "|" before the IV
// field (every attribute, KCV included), so that no attribute can be
// swapped without failing Unwrap. iv must be IVSize bytes and unique per
// KEK (NewIV); vk MinVendingKeySize to MaxVendingKeySize bytes (ErrLength);
// aad printable ASCII ending with "|" (ErrField).
func (k *KLFKeys) Wrap(iv, vk []byte, aad string) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	if err := checkLen("IV", iv, IVSize); err != nil {
		return nil, err
	}
	if len(vk) < MinVendingKeySize || len(vk) > MaxVendingKeySize {
		return nil, fmt.Errorf("%w: vending key is %d bytes, want %d to %d", ErrLength, len(vk), MinVendingKeySize, MaxVendingKeySize)
	}
	if err := checkText("AAD", aad, false, true); err != nil {
		return nil, err
	}
	g, err := k.aead()
	if err != nil {
		return nil, err
	}
	return g.Seal(nil, iv, vk, []byte(aad)), nil
}

// Unwrap authenticates and decrypts the CT field of a VK.1 record made by
// Wrap with the same KEK, IV and AAD, and returns the vending key. Any
// authentication failure — wrong key, IV, AAD or a modified ciphertext, or
// a ciphertext too short or too long to hold a vending key — returns
// ErrUnwrap and nothing more. A bad IV length is ErrLength, bad AAD text
// ErrField, as for Wrap.
func (k *KLFKeys) Unwrap(iv, ct []byte, aad string) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	if err := checkLen("IV", iv, IVSize); err != nil {
		return nil, err
	}
	if err := checkText("AAD", aad, false, true); err != nil {
		return nil, err
	}
	if n := len(ct) - GCMTagSize; n < MinVendingKeySize || n > MaxVendingKeySize {
		return nil, ErrUnwrap
	}
	g, err := k.aead()
	if err != nil {
		return nil, err
	}
	vk, err := g.Open(nil, iv, ct, []byte(aad))
	if err != nil {
		return nil, ErrUnwrap
	}
	return vk, nil
}

// MAC returns the 24-byte closing MAC of a Key Load File, for KLF.END.1
// (kms-records.md §3.5): the first 24 bytes of
//
//	HMAC-SHA-384(K_mac, records[0] + "\n" + records[1] + "\n" + … + records[n-1] + "\n")
//
// where records are the complete preceding records in file order —
// KLF.HDR.1, then every VK.1 — each as its unwrapped record text from the
// rectype through its CRC, without line ends. It catches dropped, reordered
// or replayed records. There must be at least one record, and each must be
// non-empty printable ASCII (ErrField).
func (k *KLFKeys) MAC(records []string) ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no records to MAC", ErrField)
	}
	n := 0
	for i, r := range records {
		if reason := badText(r, false, false); reason != "" {
			return nil, fmt.Errorf("%w: record %d %s", ErrField, i, reason)
		}
		n += len(r) + 1
	}
	msg := make([]byte, 0, n)
	for _, r := range records {
		msg = append(msg, r...)
		msg = append(msg, '\n')
	}
	m := hmac.New(sha512.New384, k.mac[:])
	m.Write(msg)
	return m.Sum(nil)[:MACSize], nil
}

// VerifyMAC checks the closing MAC of a Key Load File in constant time. It
// returns nil if mac equals MAC(records), ErrMACMismatch if it does not (a
// MAC of the wrong length included), and ErrKeysZeroed or ErrField as MAC
// does.
func (k *KLFKeys) VerifyMAC(records []string, mac []byte) error {
	want, err := k.MAC(records)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, mac) {
		return ErrMACMismatch
	}
	return nil
}
