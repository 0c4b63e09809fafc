// Package testparty is the test security module and the test KMC of the
// key-loading vectors (docs/notes/kms-records.md §3.7): their P-384 ECDH
// keys (keyagree.TestKey) and the PKIDs that name them. Nothing made here
// is for use outside tests.
package testparty

import (
	"crypto/ecdh"
	"testing"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
)

// Labels of the parties' test keys (keyagree.TestKey).
const (
	SMLabel  = "sts-test-sm"
	KMCLabel = "sts-test-kmc"
)

// SM returns the test module's key and its SMID: TestVendor 94000001,
// key date 2 January 2025.
func SM(tb testing.TB) (*ecdh.PrivateKey, records.PKID) {
	tb.Helper()
	return Module(tb, SMLabel, "94000001")
}

// Module returns the key and SMID of another test module: TestVendor id,
// the test key of label, key date 2 January 2025.
func Module(tb testing.TB, label, id string) (*ecdh.PrivateKey, records.PKID) {
	tb.Helper()
	return party(tb, label, records.SMID, "TestVendor", id, time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC))
}

// KMC returns the test KMC's key and its KMCID: TestKMC K0001, key date
// 1 January 2025.
func KMC(tb testing.TB) (*ecdh.PrivateKey, records.PKID) {
	tb.Helper()
	return party(tb, KMCLabel, records.KMCID, "TestKMC", "K0001", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
}

func party(tb testing.TB, label string, typ records.PKIDType, vendor, id string, keyTime time.Time) (*ecdh.PrivateKey, records.PKID) {
	tb.Helper()
	key, err := keyagree.TestKey(label)
	if err != nil {
		tb.Fatal(err)
	}
	pkid, err := records.NewPKID(typ, vendor, id, keyTime, key.PublicKey())
	if err != nil {
		tb.Fatal(err)
	}
	return key, pkid
}
