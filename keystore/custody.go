package keystore

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"sync"
)

// Custody is what the security module and the KMC depend on: named P-384
// ECDH key pairs and P-256 signing key pairs whose private halves never
// leave it, and sealing of the secrets they keep in their databases. Implementations are safe for
// concurrent use. After Lock every method except Lock and TestMode returns
// an error wrapping ErrLocked.
//
// Byte slices returned by ECDH and Open hold secrets: the caller clears
// them (clear(b)) as soon as it is done. Errors never carry key material.
type Custody interface {
	// GenerateECDH creates a P-384 key pair named name inside custody and
	// returns its public key. The name must pass CheckName and must not be
	// in use (ErrExists): keys are never overwritten.
	GenerateECDH(ctx context.Context, name string) (*ecdh.PublicKey, error)

	// PublicKey returns the public key of the key pair named name
	// (ErrNotFound if there is none).
	PublicKey(ctx context.Context, name string) (*ecdh.PublicKey, error)

	// ECDH returns the shared secret of the private key named name and
	// peer, a P-384 public key (ErrPeer otherwise): for P-384 the 48-byte
	// x-coordinate, as crypto/ecdh computes it. The caller clears it.
	ECDH(ctx context.Context, name string, peer *ecdh.PublicKey) ([]byte, error)

	// Seal encrypts and authenticates plaintext, and authenticates aad,
	// under the storage key (AES-256-GCM). The result may be stored
	// anywhere; only this custody, unlocked, opens it, and only with the
	// same aad. Bind each blob to where it is stored (table, row, purpose)
	// through aad so that blobs cannot be swapped.
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)

	// Open returns the plaintext of a blob made by Seal with the same aad,
	// or ErrUnseal. The caller clears the plaintext.
	Open(ctx context.Context, sealed, aad []byte) ([]byte, error)

	// GenerateSigner creates an ECDSA P-256 key pair named name inside
	// custody, for signing only, and returns its public key. Key pairs of
	// both kinds share one name space: the rules of GenerateECDH apply.
	// ECDH and PublicKey refuse a signing key (ErrKeyType).
	GenerateSigner(ctx context.Context, name string) (*ecdsa.PublicKey, error)

	// Signer returns the signing key pair named name (ErrNotFound if there
	// is none, ErrKeyType for an ECDH key pair): Public is its
	// *ecdsa.PublicKey; Sign takes a SHA-256 digest with crypto.SHA256
	// and returns an ASN.1 ECDSA signature, the private key never leaving
	// custody. After Lock, Sign fails with ErrLocked.
	Signer(ctx context.Context, name string) (crypto.Signer, error)

	// Delete destroys the key pair named name (ErrNotFound if there is
	// none).
	Delete(ctx context.Context, name string) error

	// Lock clears every key the custody holds in memory. It waits for
	// operations in progress, may be called more than once, and cannot be
	// undone: unlock again to get a new Custody.
	Lock()

	// TestMode reports a custody that protects nothing (its unlock
	// material sits beside it). Callers show TestModeWarning wherever the
	// custody's keys or identity show — and a KMC in live mode refuses it.
	TestMode() bool
}

// Compile-time check that the sealed file store is a Custody.
var _ Custody = (*Sealed)(nil)

// Kinds of custody, as a module or KMC directory records which one it was
// initialised with (so that it is opened with the same one).
const (
	// KindSealed is the sealed file store of this package (the default).
	KindSealed = "sealed"
	// KindPKCS11 is a PKCS#11 token (package keystore/pkcs11).
	KindPKCS11 = "pkcs11"
)

// LockOpen is the lock a Custody implementation takes at the start of a
// method: it takes l, one side of the implementation's mutex, if open
// (called with l held) reports the custody unlocked and ctx is not done;
// otherwise it leaves l as it was and returns ErrLocked or ctx's error.
func LockOpen(ctx context.Context, l sync.Locker, open func() bool) error {
	l.Lock()
	if !open() {
		l.Unlock()
		return ErrLocked
	}
	if err := ctx.Err(); err != nil {
		l.Unlock()
		return err
	}
	return nil
}

// TestModeWarning is the text callers show when a Custody is in test mode.
const TestModeWarning = "TEST MODE: the key store is unlocked from a file kept beside it; its keys are NOT protected and must never be used for live keys"

// MaxNameLen is the longest key or officer name, in bytes.
const MaxNameLen = 64

// CheckName returns nil if name may name a key or an officer: 1 to
// MaxNameLen bytes of ASCII letters, digits, '-', '_' and '.', beginning
// with a letter or a digit. Otherwise it returns an error wrapping ErrName.
// A key name is also its file name (NAME.key), so the rule keeps names out
// of paths and hidden files. Names are case-sensitive, but GenerateECDH
// refuses a name that differs only in case from an existing one, so that a
// store survives a case-insensitive file system.
func CheckName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, want 1 to %d", ErrName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			// The name is not echoed: it may be anything, even a
			// passphrase typed into the wrong field.
			return fmt.Errorf("%w: byte %d not allowed (letters, digits, '-', '_', '.'; a letter or digit first)", ErrName, i)
		}
	}
	return nil
}

// MaxOfficers is the most officers (components) a store may have.
const MaxOfficers = 8

// MinPassphraseLen is the shortest officer passphrase Init accepts, in
// bytes.
const MinPassphraseLen = 12

// Component is one officer's credential: the officer's name and the
// passphrase that protects that officer's component of the storage key.
// Init and Unlock read the passphrase and do not keep or modify it; the
// caller clears it afterwards (Zero).
//
// A Component never shows its passphrase: it formats with every fmt verb as
// keystore.Component{Officer: "…", Passphrase: <redacted>} and marshals to
// JSON as {"officer": "…"}.
type Component struct {
	Officer    string
	Passphrase []byte
}

// Zero clears the passphrase.
func (c *Component) Zero() { clear(c.Passphrase) }

// OfficerNames returns the officers of the components, in order.
func OfficerNames(cs []Component) []string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Officer
	}
	return names
}

// Format implements fmt.Formatter, so that no verb prints the passphrase.
func (c Component) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "keystore.Component{Officer: %q, Passphrase: <redacted>}", c.Officer)
}

// MarshalJSON implements json.Marshaler: the officer only.
func (c Component) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Officer string `json:"officer"`
	}{c.Officer})
}
