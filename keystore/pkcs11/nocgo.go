//go:build !cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"fmt"

	"github.com/stskms/stskms/keystore"
)

// Token is the PKCS#11 custody. This binary was built without cgo, so
// there is none: Init and Open return ErrNoCgo.
type Token struct{ cfg Config }

// Compile-time check that a Token is a keystore.Custody.
var _ keystore.Custody = (*Token)(nil)

// Available reports whether this binary can use PKCS#11: built without
// cgo, it cannot.
const Available = false

// SealOverhead is how many bytes Seal adds to a plaintext.
const SealOverhead = keystore.SealOverhead

// Init returns ErrNoCgo: PKCS#11 needs cgo.
func Init(cfg Config, pin []byte) (*Token, error) { return nil, unavailable(cfg) }

// Open returns ErrNoCgo: PKCS#11 needs cgo.
func Open(cfg Config, pin []byte) (*Token, error) { return nil, unavailable(cfg) }

func unavailable(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return fmt.Errorf("%w: token %q", ErrNoCgo, cfg.TokenLabel)
}

// GenerateECDH implements keystore.Custody: ErrLocked (there is no token).
func (t *Token) GenerateECDH(context.Context, string) (*ecdh.PublicKey, error) {
	return nil, keystore.ErrLocked
}

// PublicKey implements keystore.Custody: ErrLocked.
func (t *Token) PublicKey(context.Context, string) (*ecdh.PublicKey, error) {
	return nil, keystore.ErrLocked
}

// ECDH implements keystore.Custody: ErrLocked.
func (t *Token) ECDH(context.Context, string, *ecdh.PublicKey) ([]byte, error) {
	return nil, keystore.ErrLocked
}

// Seal implements keystore.Custody: ErrLocked.
func (t *Token) Seal(context.Context, []byte, []byte) ([]byte, error) { return nil, keystore.ErrLocked }

// Open implements keystore.Custody: ErrLocked.
func (t *Token) Open(context.Context, []byte, []byte) ([]byte, error) { return nil, keystore.ErrLocked }

// GenerateSigner implements keystore.Custody: ErrLocked.
func (t *Token) GenerateSigner(context.Context, string) (*ecdsa.PublicKey, error) {
	return nil, keystore.ErrLocked
}

// Signer implements keystore.Custody: ErrLocked.
func (t *Token) Signer(context.Context, string) (crypto.Signer, error) {
	return nil, keystore.ErrLocked
}

// Delete implements keystore.Custody: ErrLocked.
func (t *Token) Delete(context.Context, string) error { return keystore.ErrLocked }

// Lock implements keystore.Custody: nothing to do.
func (t *Token) Lock() {}

// TestMode implements keystore.Custody: false.
func (t *Token) TestMode() bool { return false }

// Config returns the configuration.
func (t *Token) Config() Config { return t.cfg }
