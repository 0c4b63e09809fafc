package keystore

import (
	"errors"
	"strconv"
	"strings"
)

// Errors returned by this package. Callers test them with errors.Is; the
// returned errors wrap them with which file, key name or officer is
// concerned, never with key material or a passphrase.
var (
	// ErrLocked: the custody has been locked; nothing works until a new
	// Unlock.
	ErrLocked = errors.New("keystore: locked")
	// ErrBadPassphrase: an officer's passphrase does not open that
	// officer's component (or the component record was altered). It comes
	// wrapped in an *OfficerError naming the officer.
	ErrBadPassphrase = errors.New("keystore: wrong passphrase (or altered component)")
	// ErrQuorum: not every officer's component was given to Unlock. It
	// comes as a *QuorumError naming the missing officers.
	ErrQuorum = errors.New("keystore: quorum not met")
	// ErrUnknownOfficer: a credential names an officer who holds no
	// component of this store (an *OfficerError).
	ErrUnknownOfficer = errors.New("keystore: officer holds no component of this store")
	// ErrOfficers: the officers or credentials given are unusable: fewer
	// than two or more than MaxOfficers officers, an invalid or repeated
	// officer name, or a passphrase shorter than MinPassphraseLen.
	ErrOfficers = errors.New("keystore: invalid officers")
	// ErrKDFParams: Argon2id parameters below the floor of WithKDF or
	// beyond what a store may ask for.
	ErrKDFParams = errors.New("keystore: Argon2id parameters out of range")
	// ErrName: a key name outside the allowed form (see CheckName).
	ErrName = errors.New("keystore: invalid key name")
	// ErrNotFound: no key of that name.
	ErrNotFound = errors.New("keystore: no such key")
	// ErrExists: a key of that name (or of a name differing only in case)
	// exists already. Keys are never overwritten.
	ErrExists = errors.New("keystore: key exists")
	// ErrPeer: a nil peer public key, or one not on P-384.
	ErrPeer = errors.New("keystore: peer is not a P-384 public key")
	// ErrStoreExists: Init into a directory that is not empty.
	ErrStoreExists = errors.New("keystore: directory is not empty")
	// ErrNoStore: Unlock of a directory without keystore.json.
	ErrNoStore = errors.New("keystore: no key store in directory")
	// ErrNotTestStore: UnlockTest of a production store (or of a test store
	// whose TEST-ONLY unlock file is missing).
	ErrNotTestStore = errors.New("keystore: not a test store")
	// ErrCorrupt: a store file is malformed, or fails authentication under
	// the storage key (altered, renamed, or taken from another store). The
	// custody fails closed: Unlock refuses a store with any such file.
	ErrCorrupt = errors.New("keystore: store damaged or altered")
	// ErrVersion: a store file of a format version this code does not know.
	ErrVersion = errors.New("keystore: unsupported format version")
	// ErrUnseal: a blob given to Open does not authenticate: altered,
	// truncated, sealed with other additional data, or by another store.
	// It deliberately says no more.
	ErrUnseal = errors.New("keystore: sealed data does not authenticate")
)

// OfficerError is an error concerning one officer: ErrBadPassphrase or
// ErrUnknownOfficer. It names the officer, never the passphrase.
type OfficerError struct {
	Officer string // as given, quoted when printed
	Err     error  // ErrBadPassphrase or ErrUnknownOfficer
}

// Error names the officer (never the passphrase) and the failure.
func (e *OfficerError) Error() string {
	return e.Err.Error() + ": officer " + strconv.Quote(e.Officer)
}

// Unwrap returns Err, for errors.Is.
func (e *OfficerError) Unwrap() error { return e.Err }

// QuorumError is returned by Unlock when officers' components are missing:
// the store is n-of-n and every officer must take part.
type QuorumError struct {
	Missing []string // officers whose component was not given, in store order
	Have    int      // components given
	Need    int      // components the store has (all are needed)
}

// Error says how many components there are of how many needed, and whose
// are missing.
func (e *QuorumError) Error() string {
	q := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		q[i] = strconv.Quote(m)
	}
	return ErrQuorum.Error() + ": " + strconv.Itoa(e.Have) + " of " + strconv.Itoa(e.Need) +
		" components, missing officers " + strings.Join(q, ", ")
}

// Unwrap returns ErrQuorum, for errors.Is.
func (e *QuorumError) Unwrap() error { return ErrQuorum }

// ErrKeyType is returned when a key of one kind is used as another: an
// ECDH key pair to sign, a signing key pair for ECDH.
var ErrKeyType = errors.New("keystore: wrong type of key")
