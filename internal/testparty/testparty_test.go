package testparty_test

import (
	"testing"

	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/internal/testvec"
)

// vectorFile holds the parties' PKIDs as kms-vectors.py prints them.
const vectorFile = "../../records/testdata/kms-vectors.json"

// TestPartiesMatchVectors: the SMID and KMCID are those of the vector file,
// and each names its own key.
func TestPartiesMatchVectors(t *testing.T) {
	var v struct {
		SMID  string `json:"smid"`
		KMCID string `json:"kmcid"`
	}
	testvec.Load(t, vectorFile, &v)
	smKey, smid := testparty.SM(t)
	kmcKey, kmcid := testparty.KMC(t)
	if smid.String() != v.SMID {
		t.Errorf("SMID %s, vectors %s", smid, v.SMID)
	}
	if kmcid.String() != v.KMCID {
		t.Errorf("KMCID %s, vectors %s", kmcid, v.KMCID)
	}
	if err := smid.CheckKey(smKey.PublicKey()); err != nil {
		t.Errorf("SMID: %v", err)
	}
	if err := kmcid.CheckKey(kmcKey.PublicKey()); err != nil {
		t.Errorf("KMCID: %v", err)
	}
	if err := smid.CheckKey(kmcKey.PublicKey()); err == nil {
		t.Error("SMID accepts the KMC's key")
	}
}
