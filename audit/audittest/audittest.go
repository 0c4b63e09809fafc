// Package audittest is what tests of audit logs share: an audit key for a
// log, made on the spot instead of in a component's custody
// (internal/auditkey).
package audittest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/stskms/stskms/audit"
)

// Key gives l a new audit key, an ECDSA P-256 key pair recorded in the log
// as "test-key" (audit.Log.SetKey), and returns its signer and verifier
// key; a failure ends the test.
func Key(t testing.TB, l *audit.Log) (audit.Signer, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewECDSASigner(l.Origin(), priv)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := audit.VerifierKey(l.Origin(), &priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetKey(context.Background(), vkey, "test-key"); err != nil {
		t.Fatal(err)
	}
	return s, vkey
}
