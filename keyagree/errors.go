package keyagree

import "errors"

// Errors returned by this package. Callers test them with errors.Is; the
// returned errors wrap them with detail (which argument, which length) but
// never with key material.
var (
	// ErrCurve: a nil key, or an ECDH key on a curve other than P-384.
	ErrCurve = errors.New("keyagree: key is not a P-384 ECDH key")
	// ErrPublicKey: bytes that are not an uncompressed P-384 point.
	ErrPublicKey = errors.New("keyagree: invalid P-384 public key")
	// ErrLength: a shared secret, key, nonce, IV or vending key of the wrong
	// length.
	ErrLength = errors.New("keyagree: wrong length")
	// ErrField: an identifier, time or record text that is empty, holds a
	// byte outside printable ASCII or a "|" where none may be, or signed text
	// that does not end with the "|" before the protected field.
	ErrField = errors.New("keyagree: invalid field or record text")
	// ErrTagMismatch: the TAG of a VKLOAD.REQ.1 does not verify.
	ErrTagMismatch = errors.New("keyagree: request tag mismatch")
	// ErrMACMismatch: the closing MAC of a Key Load File does not verify.
	ErrMACMismatch = errors.New("keyagree: KLF MAC mismatch")
	// ErrUnwrap: a wrapped vending key does not authenticate (wrong KEK, IV,
	// record prefix or ciphertext). It deliberately says no more.
	ErrUnwrap = errors.New("keyagree: vending key unwrap failed")
	// ErrKeysZeroed: KLFKeys used after Zero, or not made by DeriveKLFKeys.
	ErrKeysZeroed = errors.New("keyagree: KLF keys zeroed or not derived")
)
