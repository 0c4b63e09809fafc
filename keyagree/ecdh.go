package keyagree

import (
	"crypto/ecdh"
	"crypto/sha512"
	"fmt"
	"math/big"
)

// Sizes of the key agreement values, in bytes.
const (
	// SharedSecretSize is the length of Z, the x-coordinate of the P-384
	// ECDH point.
	SharedSecretSize = 48
	// PublicKeySize is the length of an uncompressed P-384 point 04‖X‖Y, the
	// form PK.ECDH.1 and VKLOAD.REQ.1 carry in hex.
	PublicKeySize = 97
)

// SharedSecret returns Z, the 48-byte x-coordinate of the P-384 ECDH point
// of priv and peer (kms-records.md §3.4). The SM computes it from its own key
// and the KMC's PK.ECDH.1 key, the KMC from its own key and PUBKEY_sm of the
// request; both get the same Z. Both keys must be P-384, else ErrCurve.
func SharedSecret(priv *ecdh.PrivateKey, peer *ecdh.PublicKey) ([]byte, error) {
	if priv == nil || priv.Curve() != ecdh.P384() {
		return nil, fmt.Errorf("%w: private key", ErrCurve)
	}
	if peer == nil || peer.Curve() != ecdh.P384() {
		return nil, fmt.Errorf("%w: peer public key", ErrCurve)
	}
	z, err := priv.ECDH(peer)
	if err != nil {
		// Unreachable for valid P-384 keys (prime order, no identity
		// point); the stdlib error carries no key material.
		return nil, fmt.Errorf("keyagree: ECDH: %w", err)
	}
	return z, nil
}

// ParsePublicKey checks and returns the P-384 public key of a 97-byte
// uncompressed point 04‖X‖Y (the decoded PUBKEY field of a record). It
// returns ErrPublicKey for any other length, encoding or a point not on the
// curve.
func ParsePublicKey(point []byte) (*ecdh.PublicKey, error) {
	if len(point) != PublicKeySize || point[0] != 4 {
		return nil, fmt.Errorf("%w: want %d bytes starting 04, got %d bytes", ErrPublicKey, PublicKeySize, len(point))
	}
	pub, err := ecdh.P384().NewPublicKey(point)
	if err != nil {
		return nil, fmt.Errorf("%w: point not on the curve", ErrPublicKey)
	}
	return pub, nil
}

// p384Order is n, the order of the P-384 base point (FIPS 186-5 / SEC 2).
var p384Order, _ = new(big.Int).SetString("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16)

// TestKey returns the deterministic P-384 TEST key of a label, with private
// scalar d = SHA-384(label) mod n, as kms-vectors.py makes the keys of the
// §3.7 vectors (labels "sts-test-sm" and "sts-test-kmc").
//
// FOR TESTS, DEMOS AND VECTORS ONLY. Anyone who knows the label knows the
// private key: never use a TestKey as the key of a real security module or
// KMC. Real keys come from ecdh.P384().GenerateKey(rand.Reader).
func TestKey(label string) (*ecdh.PrivateKey, error) {
	h := sha512.Sum384([]byte(label))
	d := new(big.Int).SetBytes(h[:])
	d.Mod(d, p384Order)
	k, err := ecdh.P384().NewPrivateKey(d.FillBytes(make([]byte, 48)))
	if err != nil {
		// Only for d = 0, a SHA-384 preimage of a multiple of n.
		return nil, fmt.Errorf("keyagree: test key for label %q: %w", label, err)
	}
	return k, nil
}
