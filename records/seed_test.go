package records_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stskms/stskms/records"
)

// The tests of this file check the two seed records of STS 600-9-2
// (testdata/seed-records.json): R1, the PK.ECDH.1 of §5.1.3.5, and R2, the
// VKLOAD.REQ.1 of §5.1.4.4, as reconstructed in
// docs/notes/kms-vectors.py and analysed in notes kms-records.md §2.

// crcTable renders CRC checks as the seed file lists them.
func crcTable(cs []records.CRCCheck) []seedCRC {
	out := make([]seedCRC, len(cs))
	for i, c := range cs {
		out[i] = seedCRC{c.Field, fmt.Sprintf("%04X", c.Printed), fmt.Sprintf("%04X", c.Computed)}
	}
	return out
}

// TestSeedVKLoadReq: R2 parses, all three CRCs verify (SMID 2642, KMCID
// 6850, body FB39; notes §2.3), its public key is on P-384 (§2.2) and it
// formats back to the seed text.
func TestSeedVKLoadReq(t *testing.T) {
	sr := loadSeeds(t).record(t, "R2")
	r, err := records.Parse(sr.Line)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := crcTable(r.CRCs()); fmt.Sprint(got) != fmt.Sprint(sr.CRCs) {
		t.Errorf("CRCs = %v, want %v", got, sr.CRCs)
	}
	if !r.CRCsOK() {
		t.Error("CRCsOK = false")
	}
	if pub, ok := r.PublicKey("public_key"); !ok || pub == nil {
		t.Error("no P-384 public key")
	}
	if r.String() != sr.Line {
		t.Errorf("String =\n%s\nwant\n%s", r.String(), sr.Line)
	}
	want := []string{"smid", "kmcid", "t_req", "sm_model", "sm_firmware", "public_key", "tag"}
	var names []string
	for _, f := range r.Fields() {
		names = append(names, f.Name)
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("field names = %v, want %v", names, want)
	}
	q, err := records.ParseVKLoadReq(sr.Line)
	if err != nil {
		t.Fatal(err)
	}
	if q.SMID.Vendor != "Prism" || q.SMID.ID != "94000304" || q.KMCID.ID != "K0001" ||
		q.Model != "Prism-TSM250-1" || q.Firmware != "STS65V10" || len(q.Tag) != records.TagSize ||
		q.Time.Format(records.TimeLayout) != "20200622T144047Z" {
		t.Errorf("ParseVKLoadReq = %+v", q)
	}
}

// TestSeedPKECDH: R1 is a CRC mismatch — printed D318, computed 87A1 (notes
// §2.3) — while its KMCID CRC 6850 verifies. Parse returns the record with
// the error, and String re-formats it with the computed CRC.
func TestSeedPKECDH(t *testing.T) {
	sr := loadSeeds(t).record(t, "R1")
	r, err := records.Parse(sr.Line)
	if !errors.Is(err, records.ErrCRC) {
		t.Fatalf("Parse error = %v, want ErrCRC", err)
	}
	var ce *records.CRCError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not a *CRCError", err)
	}
	if ce.Record != "PK.ECDH.1" || ce.Field != "crc" || ce.Printed != 0xD318 || ce.Computed != 0x87A1 {
		t.Errorf("CRCError = %+v", ce)
	}
	if msg := err.Error(); !strings.Contains(msg, "D318") || !strings.Contains(msg, "87A1") || !strings.Contains(msg, "PK.ECDH.1") {
		t.Errorf("message %q lacks the record type or a CRC", msg)
	}
	var fe *records.FieldError
	if errors.As(err, &fe) {
		t.Errorf("a CRC mismatch is also a *FieldError: %v", fe)
	}
	if r == nil {
		t.Fatal("Parse returned no record with a CRC-only error")
	}
	if got := crcTable(r.CRCs()); fmt.Sprint(got) != fmt.Sprint(sr.CRCs) {
		t.Errorf("CRCs = %v, want %v", got, sr.CRCs)
	}
	if r.CRCs()[0].OK != true || r.CRCs()[1].OK != false || r.CRCsOK() {
		t.Errorf("CRC ok flags: %+v", r.CRCs())
	}
	fixed := strings.TrimSuffix(sr.Line, "D318") + "87A1"
	if r.String() != fixed {
		t.Errorf("String = %s, want the line with CRC 87A1", r.String())
	}
	if _, err := records.Parse(fixed); err != nil {
		t.Errorf("re-formatted line: %v", err)
	}
	pk, err := records.ParsePKECDH(sr.Line)
	if pk == nil || !errors.Is(err, records.ErrCRC) {
		t.Fatalf("ParsePKECDH = %v, %v; want the view and ErrCRC", pk, err)
	}
	if pk.KMCID.Vendor != "Prism" || pk.Expiry.Format(records.TimeLayout) != "20230601T000000Z" || pk.PublicKey == nil {
		t.Errorf("ParsePKECDH = %+v", pk)
	}
}

// TestSeedKeyHashes: the seed key hashes were made by an unknown algorithm
// (notes §2.4). Parsing a seed PKID never fails on them; only the explicit
// check against our convention does, with ErrKeyHash.
func TestSeedKeyHashes(t *testing.T) {
	s := loadSeeds(t)
	for _, tt := range []struct {
		id, pkidField string
	}{
		{"R1", "kmcid"},
		{"R2", "smid"},
	} {
		t.Run(tt.id, func(t *testing.T) {
			r, _ := records.Parse(s.record(t, tt.id).Line)
			if r == nil {
				t.Fatal("no record")
			}
			p, _ := r.PKID(tt.pkidField)
			if _, err := records.ParsePKID(p.String()); err != nil {
				t.Errorf("ParsePKID(%s): %v", p, err)
			}
			err := r.CheckKeyHashes()
			if !errors.Is(err, records.ErrKeyHash) {
				t.Fatalf("CheckKeyHashes = %v, want ErrKeyHash", err)
			}
			var fe *records.FieldError
			if !errors.As(err, &fe) || fe.Record != r.Type() || fe.Field != tt.pkidField+".kh" {
				t.Errorf("error %#v does not name %s field %s.kh", err, r.Type(), tt.pkidField)
			}
			pub, _ := r.PublicKey("public_key")
			if err := p.CheckKey(pub); !errors.Is(err, records.ErrKeyHash) {
				t.Errorf("PKID.CheckKey = %v, want ErrKeyHash", err)
			}
		})
	}
	// The seed PKIDs on their own, including the KMCID both seeds share.
	for _, pk := range []string{
		"KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:6850",
		"SMID.1:Prism:94000304:20200622T130252Z:26D7925210FB47EA:2642",
	} {
		p, err := records.ParsePKID(pk)
		if err != nil || p.String() != pk {
			t.Errorf("ParsePKID(%s) = %v, %v", pk, p, err)
		}
	}
}
