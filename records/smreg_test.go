package records_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/records"
)

// smregVectors is testdata/smreg-vectors.json, printed by
// testdata/smreg-vectors.py (an independent Python implementation).
type smregVectors struct {
	Provenance   string   `json:"provenance"`
	STSALabel    string   `json:"stsa_label"`
	STSAPublic   string   `json:"stsa_public_key"`
	STSAPEM      string   `json:"stsa_public_key_pem"`
	STSAKeyID    string   `json:"stsa_key_id"`
	SignedSHA384 string   `json:"signed_data_sha384"`
	Records      []string `json:"records"`
}

func loadSMRegVectors(t testing.TB) smregVectors {
	t.Helper()
	var v smregVectors
	testvec.Load(t, "testdata/smreg-vectors.json", &v)
	if len(v.Records) != 4 {
		t.Fatalf("%d records, want 4", len(v.Records))
	}
	return v
}

// stsaTestKey is the deterministic test key d = SHA-384(label) mod n on
// P-384, as the vectors' script makes it.
func stsaTestKey(t testing.TB, label string) *ecdsa.PrivateKey {
	t.Helper()
	h := sha512.Sum384([]byte(label))
	d := new(big.Int).Mod(new(big.Int).SetBytes(h[:]), elliptic.P384().Params().N)
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P384(), d.FillBytes(make([]byte, 48)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSMRegVectors: the vector update parses, names the test STSA key,
// verifies under it (the key both from the label and from the PEM), and
// signing the same modules with the RFC 6979 nonce gives the identical
// records, signature included.
func TestSMRegVectors(t *testing.T) {
	v := loadSMRegVectors(t)
	u, err := records.ParseSMRegUpdate(v.Records)
	if err != nil {
		t.Fatal(err)
	}
	priv := stsaTestKey(t, v.STSALabel)
	point, _ := priv.PublicKey.Bytes()
	if got := strings.ToUpper(hex.EncodeToString(point)); got != v.STSAPublic {
		t.Fatalf("STSA test key %s, want %s", got, v.STSAPublic)
	}
	blk, _ := pem.Decode([]byte(v.STSAPEM))
	pemKey, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil || !pemKey.(*ecdsa.PublicKey).Equal(&priv.PublicKey) {
		t.Fatalf("PEM key %v", err)
	}
	id, err := records.STSAKeyID(&priv.PublicKey)
	if err != nil || id.String() != v.STSAKeyID || u.STSAKey != id {
		t.Fatalf("key id %s (%v), update names %s, want %s", id, err, u.STSAKey, v.STSAKeyID)
	}
	sum := sha512.Sum384(records.SignedData(v.Records[:3]))
	if got := strings.ToUpper(hex.EncodeToString(sum[:])); got != v.SignedSHA384 {
		t.Errorf("SHA-384 of the signed data %s, want %s", got, v.SignedSHA384)
	}
	if err := u.Verify(&priv.PublicKey); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if u.Seq != 1 || !u.IssueTime.Equal(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)) || len(u.Modules) != 2 {
		t.Fatalf("header: seq %d, t_issue %s, %d modules", u.Seq, u.IssueTime, len(u.Modules))
	}
	m1, m2 := u.Modules[0], u.Modules[1]
	if m1.SMID.ID != "94000001" || m1.Variant != "vending" || !m1.Certified || m1.Revoked || m1.Model != "Test-SSM-1" {
		t.Errorf("module 1: %+v", m1)
	}
	if m2.SMID.ID != "94000002" || m2.Variant != "manufacturing" || m2.Certified || !m2.Revoked || m2.Firmware != "STS65V10" {
		t.Errorf("module 2: %+v", m2)
	}
	again, err := records.SignSMRegUpdate(priv, u.Seq, u.IssueTime, u.Modules, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(again, "\n") != strings.Join(v.Records, "\n") {
		t.Errorf("re-signed:\n%s\nwant\n%s", strings.Join(again, "\n"), strings.Join(v.Records, "\n"))
	}
	if !strings.HasPrefix(v.Provenance, "records/testdata/smreg-vectors.py") {
		t.Errorf("provenance %q", v.Provenance)
	}
}

// TestSMRegRandomSignature: a randomized signature differs from the
// deterministic one and verifies all the same.
func TestSMRegRandomSignature(t *testing.T) {
	v := loadSMRegVectors(t)
	u, _ := records.ParseSMRegUpdate(v.Records)
	priv := stsaTestKey(t, v.STSALabel)
	bodies, err := records.SignSMRegUpdate(priv, 7, u.IssueTime, u.Modules, nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd, err := records.SignSMRegUpdate(priv, 7, u.IssueTime, u.Modules, strings.NewReader(strings.Repeat("x", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	if rnd[3] == bodies[3] {
		t.Error("randomized signature equals the deterministic one")
	}
	for _, b := range [][]string{bodies, rnd} {
		u, err := records.ParseSMRegUpdate(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Verify(&priv.PublicKey); err != nil || u.Seq != 7 {
			t.Errorf("seq %d: %v", u.Seq, err)
		}
	}
}

// recrc replaces the record CRC of a one-line body with the right one.
func recrc(body string) string {
	i := strings.LastIndexByte(body, '|')
	return body[:i+1] + strings.ToUpper(hex.EncodeToString([]byte{byte(records.CRC16Modbus(body[:i+1]) >> 8), byte(records.CRC16Modbus(body[:i+1]))}))
}

// TestSMRegRefusals: every fault is an *UpdateError naming the record and
// matching its sentinel; a tampered but well-formed file fails only the
// signature.
func TestSMRegRefusals(t *testing.T) {
	v := loadSMRegVectors(t)
	priv := stsaTestKey(t, v.STSALabel)
	hdr, sm1, sm2, end := v.Records[0], v.Records[1], v.Records[2], v.Records[3]
	other := stsaTestKey(t, "sts-test-other")
	sm2KH := strings.Replace(sm2, "681B172DD8CA0035", "930F65E7777667E1", 1) // PKID CRC now wrong too
	sm2KH = strings.Replace(sm2KH, ":0DAD|", ":"+func() string {
		p := "SMID.1:TestVendor:94000002:20250102T000000Z:930F65E7777667E1:"
		c := records.CRC16Modbus(p)
		return strings.ToUpper(hex.EncodeToString([]byte{byte(c >> 8), byte(c)}))
	}()+"|", 1)
	for _, tc := range []struct {
		name   string
		bodies []string
		index  int
		want   error
	}{
		{"too few", []string{hdr, end}, 0, records.ErrStructure},
		{"no header", []string{sm1, sm1, sm2, end}, 1, records.ErrUnknownType},
		{"count mismatch", []string{hdr, sm1, end}, 1, records.ErrStructure},
		{"out of order", []string{hdr, sm2, sm1, end}, 2, records.ErrStructure},
		{"end missing", []string{hdr, sm1, sm2}, 1, records.ErrStructure},
		{"crc", []string{hdr, sm1[:len(sm1)-1] + "0", sm2, end}, 2, records.ErrCRC},
		{"lower-case revoked flag", []string{hdr, sm1, recrc(strings.Replace(sm2, "|N|Y|", "|N|y|", 1)), end}, 3, records.ErrChoice},
		{"key hash", []string{hdr, sm1, recrc(sm2KH), end}, 3, records.ErrKeyHash},
		{"duplicate", []string{hdr, sm1, recrc(strings.Replace(sm1, "SMREG.SM.1|1|", "SMREG.SM.1|2|", 1)), end}, 3, records.ErrDuplicate},
		{"end count", []string{hdr, sm1, sm2, recrc(strings.Replace(end, "SMREG.END.1|2|", "SMREG.END.1|3|", 1))}, 4, records.ErrStructure},
	} {
		_, err := records.ParseSMRegUpdate(tc.bodies)
		var ue *records.UpdateError
		if !errors.As(err, &ue) || ue.Index != tc.index || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want record %d %v", tc.name, err, tc.index, tc.want)
		}
	}
	tampered := []string{hdr, sm1, recrc(strings.Replace(sm2, "|N|Y|", "|Y|N|", 1)), end}
	u, err := records.ParseSMRegUpdate(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Verify(&priv.PublicKey); !errors.Is(err, records.ErrSignature) {
		t.Errorf("tampered flags: %v, want ErrSignature", err)
	}
	u, _ = records.ParseSMRegUpdate(v.Records)
	if err := u.Verify(&other.PublicKey); !errors.Is(err, records.ErrSignature) {
		t.Errorf("another key: %v, want ErrSignature", err)
	}
	// Another key's signature on a header naming the test key.
	forged, err := records.SignSMRegUpdate(other, 1, u.IssueTime, u.Modules, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged[0] = hdr
	if u, err := records.ParseSMRegUpdate(forged); err != nil || u.Verify(&priv.PublicKey) == nil {
		t.Errorf("a signature by another key verifies (%v)", err)
	}
}

// FuzzParseSMRegUpdate feeds arbitrary update texts (one record a line) to
// ParseSMRegUpdate and Verify: never a panic; a rejection is an
// *UpdateError; an accepted update formats back to its own records.
func FuzzParseSMRegUpdate(f *testing.F) {
	v := loadSMRegVectors(f)
	f.Add(strings.Join(v.Records, "\n"))
	f.Add(strings.Join(v.Records[:3], "\n"))
	f.Add(strings.Join([]string{v.Records[0], v.Records[2], v.Records[1], v.Records[3]}, "\n"))
	f.Add("SMREG.HDR.1|\nSMREG.SM.1|\nSMREG.END.1|")
	priv := stsaTestKey(f, v.STSALabel)
	f.Fuzz(func(t *testing.T, text string) {
		bodies := strings.Split(text, "\n")
		u, err := records.ParseSMRegUpdate(bodies)
		if err != nil {
			var ue *records.UpdateError
			if u != nil || !errors.As(err, &ue) {
				t.Fatalf("%v (update %v)", err, u)
			}
			return
		}
		if len(u.Modules) != len(bodies)-2 {
			t.Fatalf("%d modules of %d records", len(u.Modules), len(bodies))
		}
		for i, m := range u.Modules {
			if s, err := m.Format(); err != nil || s != bodies[i+1] {
				t.Fatalf("module %d formats to %q (%v)", i+1, s, err)
			}
		}
		if err := u.Verify(&priv.PublicKey); err != nil && !errors.Is(err, records.ErrSignature) {
			t.Fatalf("Verify: %v", err)
		}
	})
}
