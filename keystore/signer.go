package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
)

// CheckSignerOpts checks the options of a custody Signer's Sign: a SHA-256
// digest (ErrKeyType otherwise, saying what is wrong).
func CheckSignerOpts(digest []byte, opts crypto.SignerOpts) error {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return fmt.Errorf("%w: a custody signing key signs SHA-256 digests (32 bytes) only", ErrKeyType)
	}
	return nil
}

// signingPublic returns the ECDSA form of a P-256 signing key's point.
func signingPublic(kf *keyFile) (*ecdsa.PublicKey, error) {
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kf.pub.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not a P-256 point", ErrCorrupt, kf.name+keyFileExt)
	}
	return pub, nil
}

// signingKey decrypts kf, a signing key, and checks it against its public
// key. The ecdsa.PrivateKey keeps a copy of the scalar that cannot be
// cleared: call it inside doSecret and drop the key soon.
func (s *Sealed) signingKey(kf *keyFile) (*ecdsa.PrivateKey, error) {
	d, err := s.openScalar(kf)
	if err != nil {
		return nil, err
	}
	defer clear(d)
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	var pub []byte
	if err == nil {
		pub, err = priv.PublicKey.Bytes()
	}
	if err != nil || !bytes.Equal(pub, kf.pub.Bytes()) {
		return nil, fmt.Errorf("%w: %s: private and public key do not match", ErrCorrupt, kf.name+keyFileExt)
	}
	return priv, nil
}

// GenerateSigner implements Custody: a P-256 key pair from crypto/rand,
// its scalar sealed into NAME.key as for GenerateECDH (type "ecdsa-p256").
func (s *Sealed) GenerateSigner(ctx context.Context, name string) (*ecdsa.PublicKey, error) {
	pub, err := s.generate(ctx, name, keyTypeP256Sign)
	if err != nil {
		return nil, err
	}
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub.Bytes())
}

// Signer implements Custody. The key file is read and authenticated now;
// each Sign decrypts the private key for that call only.
func (s *Sealed) Signer(ctx context.Context, name string) (crypto.Signer, error) {
	kf, err := s.authenticKey(ctx, name, keyTypeP256Sign)
	if err != nil {
		return nil, err
	}
	pub, err := signingPublic(kf)
	if err != nil {
		return nil, err
	}
	return &sealedSigner{s: s, kf: kf, pub: pub}, nil
}

// sealedSigner is a signing key of a Sealed store.
type sealedSigner struct {
	s   *Sealed
	kf  *keyFile
	pub *ecdsa.PublicKey
}

// Public implements crypto.Signer.
func (k *sealedSigner) Public() crypto.PublicKey { return k.pub }

// Sign implements crypto.Signer: an ASN.1 ECDSA signature of digest, a
// SHA-256 hash; the random source is crypto/rand whatever rand is.
func (k *sealedSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := CheckSignerOpts(digest, opts); err != nil {
		return nil, err
	}
	if err := k.s.rlock(context.Background()); err != nil {
		return nil, err
	}
	defer k.s.mu.RUnlock()
	var sig []byte
	var err error
	doSecret(func() {
		var priv *ecdsa.PrivateKey
		if priv, err = k.s.signingKey(k.kf); err != nil {
			return
		}
		if sig, err = ecdsa.SignASN1(rand.Reader, priv, digest); err != nil {
			err = fmt.Errorf("keystore: signing with key %q failed", k.kf.name)
		}
	})
	if err != nil {
		return nil, err
	}
	return sig, nil
}
