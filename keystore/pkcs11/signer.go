//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"fmt"
	"io"

	"github.com/ThalesGroup/crypto11"

	"github.com/stskms/stskms/keystore"
)

// GenerateSigner implements keystore.Custody: a P-256 key pair generated
// in the token, the private key on the token (CKA_TOKEN), private,
// sensitive, non-extractable, usable for signing only (CKM_ECDSA). It
// shares the name space of GenerateECDH.
func (t *Token) GenerateSigner(ctx context.Context, name string) (*ecdsa.PublicKey, error) {
	signer, err := t.generatePair(ctx, name, elliptic.P256(), true)
	if err != nil {
		return nil, err
	}
	return signingPublic(signer, name)
}

// signingPublic returns the public key of a crypto11 key pair that must be
// a P-256 signing key (keystore.ErrKeyType otherwise).
func signingPublic(signer crypto11.Signer, name string) (*ecdsa.PublicKey, error) {
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: %q is not a P-256 signing key", keystore.ErrKeyType, name)
	}
	return pub, nil
}

// Signer implements keystore.Custody: the token signs (CKM_ECDSA); the
// private key never leaves it.
func (t *Token) Signer(ctx context.Context, name string) (crypto.Signer, error) {
	pair, err := t.openPair(ctx, name)
	if err != nil {
		return nil, err
	}
	pub, err := signingPublic(pair, name)
	if err != nil {
		return nil, err
	}
	return &tokenSigner{t: t, pair: pair, pub: pub, name: name}, nil
}

// tokenSigner is a signing key of a Token.
type tokenSigner struct {
	t    *Token
	pair crypto11.Signer
	pub  *ecdsa.PublicKey
	name string
}

// Public implements crypto.Signer.
func (k *tokenSigner) Public() crypto.PublicKey { return k.pub }

// Sign implements crypto.Signer: an ASN.1 ECDSA signature of digest, a
// SHA-256 hash, made by the token (which chooses its own randomness).
func (k *tokenSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := keystore.CheckSignerOpts(digest, opts); err != nil {
		return nil, err
	}
	if err := k.t.rlock(context.Background()); err != nil {
		return nil, err
	}
	defer k.t.mu.RUnlock()
	sig, err := k.pair.Sign(rand, digest, opts)
	if err != nil {
		return nil, deviceError("sign with key "+k.name, err)
	}
	return sig, nil
}
