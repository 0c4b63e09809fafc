package stsatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
)

// TestUpdate: the file is one update, sequence 1, listing Module, that
// verifies under Key's public key and not under another.
func TestUpdate(t *testing.T) {
	blocks, err := armor.Find(Update(t))
	if err != nil {
		t.Fatal(err)
	}
	bodies := make([]string, len(blocks))
	for i, b := range blocks {
		bodies[i] = b.Body
	}
	u, err := records.ParseSMRegUpdate(bodies)
	if err != nil {
		t.Fatal(err)
	}
	if u.Seq != 1 || len(u.Modules) != 1 || u.Modules[0].SMID.String() != Module(t).SMID.String() || !u.Modules[0].Certified {
		t.Fatalf("update %+v", u)
	}
	if err := u.Verify(&Key(t).PublicKey); err != nil {
		t.Fatalf("verify under Key: %v", err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Verify(&other.PublicKey); err == nil {
		t.Fatal("verified under another key")
	}
}
