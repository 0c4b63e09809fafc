// Package auditkey keeps the audit key of a module's or a KMC's audit log
// in the component's key custody, and makes the audit.Signer that signs
// the log's checkpoints with it.
//
// The audit key is an ECDSA P-256 signing key pair generated inside the
// custody (keystore.Custody.GenerateSigner): in the sealed store, a key
// file sealed like the component's ECDH key; in a PKCS#11 token, a
// non-extractable token key that signs with CKM_ECDSA. ECDSA P-256 is what
// both can do: Ed25519 (the note format's native scheme) is missing from
// most tokens and from crypto11. C2SP signed-note gives ECDSA the
// signature type 0x02. The log records the verifier key in clear
// (audit.Log.SetKey), so that auditors read it without unlocking anything.
package auditkey

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
)

// KeyName is the name of the audit key in the component's custody.
const KeyName = "audit-log"

// Ensure returns the verifier key of l's audit key, generating the key in
// c the first time (an existing module or KMC gets it at its first open
// by this version). The generation is recorded in the log.
func Ensure(ctx context.Context, l *audit.Log, c keystore.Custody) (string, error) {
	vkey, _, err := l.Key(ctx)
	if !errors.Is(err, audit.ErrNoKey) {
		return vkey, err
	}
	pub, err := c.GenerateSigner(ctx, KeyName)
	if errors.Is(err, keystore.ErrExists) {
		// Made by a process that stopped before recording it.
		pub, err = public(ctx, c)
	}
	if err != nil {
		return "", fmt.Errorf("auditkey: failed to make the audit key: %w", err)
	}
	if vkey, err = audit.VerifierKey(l.Origin(), pub); err != nil {
		return "", err
	}
	if _, err := l.SetKey(ctx, vkey, KeyName); err != nil {
		return "", err
	}
	vkey, _, err = l.Key(ctx)
	return vkey, err
}

// public returns the public key of the audit key in c.
func public(ctx context.Context, c keystore.Custody) (*ecdsa.PublicKey, error) {
	k, err := c.Signer(ctx, KeyName)
	if err != nil {
		return nil, err
	}
	pub, ok := k.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not an ECDSA key", keystore.ErrKeyType, KeyName)
	}
	return pub, nil
}

// Signer returns the signer of l's checkpoints: its audit key in c,
// checked against the log's verifier key.
func Signer(ctx context.Context, l *audit.Log, c keystore.Custody) (audit.Signer, error) {
	vkey, name, err := l.Key(ctx)
	if err != nil {
		return nil, err
	}
	k, err := c.Signer(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("auditkey: the audit key is not in this custody: %w", err)
	}
	pub, _ := k.Public().(*ecdsa.PublicKey)
	if got, err := audit.VerifierKey(l.Origin(), pub); err != nil || got != vkey {
		return nil, errors.New("auditkey: the audit key in custody is not the one of the log's verifier key")
	}
	return audit.NewECDSASigner(l.Origin(), k)
}
