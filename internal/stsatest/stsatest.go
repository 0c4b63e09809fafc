// Package stsatest plays the STS Association in tests: its deterministic
// test signing key and a signed registry update (SMREG) listing one test
// security module. Nothing made here is for use outside tests.
package stsatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
)

// KeyLabel is the label of the STS Association's test key (keyagree.TestKey).
const KeyLabel = "sts-test-stsa"

// Key returns the STS Association's test signing key: the test key of
// KeyLabel as an ECDSA P-384 key.
func Key(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	tk, err := keyagree.TestKey(KeyLabel)
	if err != nil {
		tb.Fatal(err)
	}
	stsa, err := ecdsa.ParseRawPrivateKey(elliptic.P384(), tk.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	return stsa
}

// Module is the one module Update lists: the test key "sts-test-sm" as
// SMID TestVendor 94000001 (key date 2025-01-02), a certified vending
// Prism-TSM250-1 with firmware STS65V10.
func Module(tb testing.TB) records.SMRegModule {
	tb.Helper()
	smKey, smid := testparty.SM(tb)
	return records.SMRegModule{SMID: smid, PublicKey: smKey.PublicKey(), Model: "Prism-TSM250-1", Firmware: "STS65V10",
		Variant: "vending", Certified: true}
}

// Update returns registry update 1, issued now and signed with Key,
// listing Module, as an armored file-of-records.
func Update(tb testing.TB) []byte {
	tb.Helper()
	bodies, err := records.SignSMRegUpdate(Key(tb), 1, time.Now(), []records.SMRegModule{Module(tb)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	file, err := armor.File(bodies...)
	if err != nil {
		tb.Fatal(err)
	}
	return file
}
