// Package custodydir makes and opens the key custody of a module or KMC
// directory (DIR/keystore): the one place that chooses among the kinds of
// custody — the sealed store split among the officers, its TEST-ONLY
// variant (package keystore), and a PKCS#11 token (package
// keystore/pkcs11). The security module and the KMC record the kind Init
// returns and give it back to Open; neither chooses by itself.
package custodydir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11"
)

// PKCS11Config says which PKCS#11 token holds a custody's keys: module,
// token label and key-label namespace (package keystore/pkcs11). It never
// holds the PIN.
type PKCS11Config = pkcs11.Config

// ErrKind: a directory records a kind of custody this binary does not
// know.
var ErrKind = errors.New("custodydir: unknown kind of key custody")

// Spec says which custody Init makes, and carries what unlocks it for
// Init and Open. The package does not keep the officers' passphrases or
// the PIN; the caller clears them.
type Spec struct {
	// Test is the TEST-ONLY sealed store, unlocked from the file kept
	// beside it. It cannot be a PKCS#11 token.
	Test bool
	// PKCS11, if not nil, makes Init put the keys into that token and
	// keep a copy of the configuration in the directory, from which Open
	// reads it.
	PKCS11 *PKCS11Config
	// Officers are every officer's passphrase: the sealed store is split
	// among them (at least two) and opens only with all of them; a
	// PKCS#11 custody registers them (at least two) beside the token
	// (keystore.RegisterOfficers), for dual control.
	Officers []keystore.Component
	// PIN is the token's user PIN, for a PKCS#11 custody.
	PIN []byte
}

// Check refuses, before anything is made, what Init would: a test custody
// in a token, too few officers (keystore.ErrOfficers) or a PIN of the
// wrong length (pkcs11.ErrPIN).
func Check(s Spec) error {
	switch {
	case s.Test && s.PKCS11 != nil:
		return fmt.Errorf("%w: a test custody is the TEST-ONLY sealed store, never a PKCS#11 token", ErrKind)
	case s.Test:
		return nil
	case s.PKCS11 != nil:
		if err := pkcs11.CheckPIN(s.PIN); err != nil {
			return err
		}
	}
	return keystore.CheckOfficers(s.Officers)
}

// Init makes the custody s describes in dir and returns it unlocked, with
// its kind (keystore.KindSealed or keystore.KindPKCS11) for the directory
// to record and give back to Open. Lock it when done.
func Init(dir string, s Spec) (keystore.Custody, string, error) {
	if err := Check(s); err != nil {
		return nil, "", err
	}
	switch {
	case s.Test:
		if err := keystore.InitTest(dir); err != nil {
			return nil, "", err
		}
		c, err := keystore.UnlockTest(dir)
		return orNil(c, err), keystore.KindSealed, err
	case s.PKCS11 != nil:
		if err := pkcs11.WriteConfig(dir, *s.PKCS11); err != nil {
			return nil, "", err
		}
		t, err := pkcs11.Init(*s.PKCS11, s.PIN)
		if err != nil {
			return nil, "", err
		}
		// The token has no officers of its own: they are registered
		// beside it, so that dual control names and authenticates them.
		if err := keystore.RegisterOfficers(context.Background(), dir, t, s.Officers); err != nil {
			t.Lock()
			return nil, "", err
		}
		return t, keystore.KindPKCS11, nil
	}
	if err := keystore.Init(dir, s.Officers); err != nil {
		return nil, "", err
	}
	c, err := keystore.Unlock(dir, s.Officers)
	return orNil(c, err), keystore.KindSealed, err
}

// Open unlocks the custody of kind (as Init returned it; "" is
// keystore.KindSealed) in dir: a PKCS#11 token with s.PIN and the
// configuration Init kept, the TEST-ONLY store from its file if s.Test,
// else the sealed store with every officer's passphrase. s.PKCS11 is not
// used. An unknown kind is ErrKind. Lock the custody when done.
func Open(dir, kind string, s Spec) (keystore.Custody, error) {
	switch kind {
	case keystore.KindPKCS11:
		cfg, err := pkcs11.LoadConfig(filepath.Join(dir, pkcs11.ConfigFileName))
		if err != nil {
			return nil, err
		}
		t, err := pkcs11.Open(cfg, s.PIN)
		return orNil(t, err), err
	case "", keystore.KindSealed:
	default:
		return nil, fmt.Errorf("%w: %q", ErrKind, kind)
	}
	if s.Test {
		c, err := keystore.UnlockTest(dir)
		return orNil(c, err), err
	}
	c, err := keystore.Unlock(dir, s.Officers)
	return orNil(c, err), err
}

// CheckKind returns ErrKind unless kind is one Open knows ("" is
// keystore.KindSealed).
func CheckKind(kind string) error {
	switch kind {
	case "", keystore.KindSealed, keystore.KindPKCS11:
		return nil
	}
	return fmt.Errorf("%w: %q", ErrKind, kind)
}

// Kind returns the kind of an open custody: keystore.KindPKCS11 for a
// token, else keystore.KindSealed.
func Kind(c keystore.Custody) string {
	if _, ok := c.(*pkcs11.Token); ok {
		return keystore.KindPKCS11
	}
	return keystore.KindSealed
}

// orNil returns c as a keystore.Custody, or a nil interface when err is
// set (never an interface holding a nil pointer).
func orNil[C keystore.Custody](c C, err error) keystore.Custody {
	if err != nil {
		return nil
	}
	return c
}

// RegisterOfficers registers officers (names and passphrases, under the
// rules of keystore.RegisterOfficers) with the custody in dir, a PKCS#11
// token without an officer registry, which unlock opens (and which is
// locked again at once); then opens the module or KMC with them (open)
// and records the registration in its audit log (audit). If open or audit
// fails, the registry is removed again and what open returned is closed:
// nothing stays half-made. The caller closes what it returns.
func RegisterOfficers[T io.Closer](ctx context.Context, dir string, officers []keystore.Component,
	unlock func() (keystore.Custody, error), open func() (T, error), audit func(T) error) (T, error) {
	var none T
	custody, err := unlock()
	if err != nil {
		return none, fmt.Errorf("failed to unlock the key custody: %w", err)
	}
	err = keystore.RegisterOfficers(ctx, dir, custody, officers)
	custody.Lock()
	if err != nil {
		return none, fmt.Errorf("register the officers: %w", err)
	}
	c, err := open()
	if err == nil {
		if err = audit(c); err != nil {
			c.Close()
		}
	}
	if err != nil {
		return none, errors.Join(fmt.Errorf("officers not registered: %w", err), keystore.UnregisterOfficers(dir))
	}
	return c, nil
}
