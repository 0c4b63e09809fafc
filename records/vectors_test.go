package records_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/records"
)

// The tests of this file check the §3.7 vectors of notes kms-records.md,
// printed by docs/notes/kms-vectors.py and stored in
// testdata/kms-vectors.json.

// TestVectorProvenance guards the provenance line of the vector file.
func TestVectorProvenance(t *testing.T) {
	v := loadVectors(t)
	if want := "../shared/notes/kms-vectors.py, notes kms-records.md §3.7"; v.Provenance != want {
		t.Errorf("provenance = %q, want %q", v.Provenance, want)
	}
	if len(v.Records) != 5 {
		t.Errorf("%d records, want 5 (PK_ECDH, VKLOAD_REQ, KLF_HDR, VK_REC, KLF_END)", len(v.Records))
	}
}

// TestVectorRecords: each one-line record parses with Parse and with its
// spec, every CRC verifies (the record CRC is the printed one of §3.7),
// and formatting gives the identical string.
func TestVectorRecords(t *testing.T) {
	v := loadVectors(t)
	for _, vr := range v.Records {
		t.Run(vr.Name, func(t *testing.T) {
			r, err := records.Parse(vr.Line)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if r.Type() != vr.Type {
				t.Errorf("Type = %s, want %s", r.Type(), vr.Type)
			}
			if got := r.String(); got != vr.Line {
				t.Errorf("String =\n%s\nwant\n%s", got, vr.Line)
			}
			if !r.CRCsOK() {
				t.Errorf("CRCsOK = false: %+v", r.CRCs())
			}
			crcs := r.CRCs()
			last := crcs[len(crcs)-1]
			if got := fmt.Sprintf("%04X", last.Computed); last.Field != "crc" || got != vr.CRC {
				t.Errorf("record CRC %s = %s, want crc = %s", last.Field, got, vr.CRC)
			}
			for _, c := range crcs {
				if !c.OK || c.Printed != c.Computed {
					t.Errorf("CRC %s: printed %04X computed %04X ok %v", c.Field, c.Printed, c.Computed, c.OK)
				}
			}
			spec := records.Lookup(vr.Type)
			if spec == nil {
				t.Fatalf("Lookup(%s) = nil", vr.Type)
			}
			r2, err := spec.Parse(vr.Line)
			if err != nil || r2.String() != vr.Line {
				t.Errorf("Spec.Parse: %v", err)
			}
			// Rebuilding from the listed field texts gives the same line.
			var texts []any
			for _, f := range r.Fields() {
				texts = append(texts, f.Text)
			}
			r3, err := records.New(spec, texts...)
			if err != nil {
				t.Fatalf("New from field texts: %v", err)
			}
			if r3.String() != vr.Line {
				t.Errorf("New from field texts =\n%s\nwant\n%s", r3.String(), vr.Line)
			}
			if crc, ok := r.Prefix("crc"); !ok || crc != vr.Line[:len(vr.Line)-4] {
				t.Errorf("Prefix(crc) = %q, %v", crc, ok)
			}
		})
	}
}

// TestVectorTypedViews: each typed view parses its record and formats it
// back identically.
func TestVectorTypedViews(t *testing.T) {
	v := loadVectors(t)
	type formatter interface{ Format() (string, error) }
	tests := []struct {
		name  string
		parse func(string) (formatter, error)
	}{
		{"PK_ECDH", func(s string) (formatter, error) { return records.ParsePKECDH(s) }},
		{"VKLOAD_REQ", func(s string) (formatter, error) { return records.ParseVKLoadReq(s) }},
		{"KLF_HDR", func(s string) (formatter, error) { return records.ParseKLFHeader(s) }},
		{"VK_REC", func(s string) (formatter, error) { return records.ParseVK(s) }},
		{"KLF_END", func(s string) (formatter, error) { return records.ParseKLFEnd(s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := v.record(t, tt.name)
			view, err := tt.parse(line)
			if err != nil {
				t.Fatal(err)
			}
			got, err := view.Format()
			if err != nil {
				t.Fatal(err)
			}
			if got != line {
				t.Errorf("Format =\n%s\nwant\n%s", got, line)
			}
		})
	}
}

// TestVectorPKIDs: KMCID and SMID of §3.7 parse, their CRCs (18C3, A68E)
// verify, their key hashes are the expected 596A20E33788ED93 and
// 930F65E7777667E1 and name PUB_KMC and PUB_SM under KeyHash.
func TestVectorPKIDs(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		name, pkid, kh, crc, pub string
		typ                      records.PKIDType
		vendor, id, time         string
	}{
		{"KMCID", v.KMCID, v.KMCIDKH, v.KMCIDCRC, v.PubKMC, records.KMCID, "TestKMC", "K0001", "20250101T000000Z"},
		{"SMID", v.SMID, v.SMIDKH, v.SMIDCRC, v.PubSM, records.SMID, "TestVendor", "94000001", "20250102T000000Z"},
	}
	if v.KMCIDKH != "596A20E33788ED93" || v.SMIDKH != "930F65E7777667E1" {
		t.Fatalf("vector file KHs %s %s differ from notes §3.7", v.KMCIDKH, v.SMIDKH)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := records.ParsePKID(tt.pkid)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.typ || p.Vendor != tt.vendor || p.ID != tt.id || p.Time.Format(records.TimeLayout) != tt.time {
				t.Errorf("ParsePKID = %+v", p)
			}
			if p.KeyHash.String() != tt.kh {
				t.Errorf("KeyHash field = %s, want %s", p.KeyHash, tt.kh)
			}
			if p.String() != tt.pkid || !strings.HasSuffix(tt.pkid, ":"+tt.crc) {
				t.Errorf("String = %s, want %s (CRC %s)", p.String(), tt.pkid, tt.crc)
			}
			pub := mustPub(t, tt.pub)
			if got := records.KeyHash(pub.Bytes()); got.String() != tt.kh {
				t.Errorf("KeyHash(pub) = %s, want %s", got, tt.kh)
			}
			if err := p.CheckKey(pub); err != nil {
				t.Errorf("CheckKey: %v", err)
			}
			keyTime, _ := time.Parse(records.TimeLayout, tt.time)
			built, err := records.NewPKID(tt.typ, tt.vendor, tt.id, keyTime, pub)
			if err != nil {
				t.Fatal(err)
			}
			if built.String() != tt.pkid {
				t.Errorf("NewPKID = %s, want %s", built, tt.pkid)
			}
		})
	}
}

// TestVectorKeyHashes: the PKIDs of PK.ECDH.1 (KMCID) and VKLOAD.REQ.1
// (SMID) name the key printed next to them.
func TestVectorKeyHashes(t *testing.T) {
	v := loadVectors(t)
	for _, name := range []string{"PK_ECDH", "VKLOAD_REQ", "KLF_HDR", "VK_REC", "KLF_END"} {
		r, err := records.Parse(v.record(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CheckKeyHashes(); err != nil {
			t.Errorf("%s CheckKeyHashes: %v", name, err)
		}
	}
	pk, err := records.ParsePKECDH(v.record(t, "PK_ECDH"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.CheckKeyHash(); err != nil {
		t.Errorf("PKECDH.CheckKeyHash: %v", err)
	}
	req, err := records.ParseVKLoadReq(v.record(t, "VKLOAD_REQ"))
	if err != nil {
		t.Fatal(err)
	}
	if err := req.CheckKeyHash(); err != nil {
		t.Errorf("VKLoadReq.CheckKeyHash: %v", err)
	}
}

// TestVectorFingerprint: the PK.ECDH.1 fingerprint of §3.7 is
// 6EBBE79FF38E2C72 (SHA-256 of the one-line body, first 8 bytes).
func TestVectorFingerprint(t *testing.T) {
	v := loadVectors(t)
	const want = "6EBBE79FF38E2C72"
	if v.Fingerprint != want {
		t.Fatalf("vector file fingerprint %s, notes §3.7 say %s", v.Fingerprint, want)
	}
	line := v.record(t, "PK_ECDH")
	if got := records.Fingerprint(line).String(); got != want {
		t.Errorf("Fingerprint(line) = %s, want %s", got, want)
	}
	r, err := records.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Fingerprint().String(); got != want {
		t.Errorf("Record.Fingerprint = %s, want %s", got, want)
	}
	pk, err := records.ParsePKECDH(line)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := pk.Fingerprint()
	if err != nil || fp.String() != want {
		t.Errorf("PKECDH.Fingerprint = %s, %v, want %s", fp, err, want)
	}
	if b, _ := fp.MarshalText(); string(b) != want {
		t.Errorf("MarshalText = %s", b)
	}
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	tm, err := time.Parse(records.TimeLayout, s)
	if err != nil {
		tb.Fatal(err)
	}
	return tm
}

// TestVectorBuild builds every §3.7 record from typed values (the inputs of
// kms-vectors.py) and gets the printed line, CRCs included.
func TestVectorBuild(t *testing.T) {
	v := loadVectors(t)
	pubKMC, pubSM := mustPub(t, v.PubKMC), mustPub(t, v.PubSM)
	kmcid, err := records.NewPKID(records.KMCID, "TestKMC", "K0001", mustTime(t, "20250101T000000Z"), pubKMC)
	if err != nil {
		t.Fatal(err)
	}
	smid, err := records.NewPKID(records.SMID, "TestVendor", "94000001", mustTime(t, "20250102T000000Z"), pubSM)
	if err != nil {
		t.Fatal(err)
	}
	tReq := mustTime(t, "20250103T120000Z")
	reqLine := v.record(t, "VKLOAD_REQ")
	req := &records.VKLoadReq{SMID: smid, KMCID: kmcid, Time: tReq, Model: "Test-SSM-1", Firmware: "SSM1V100", PublicKey: pubSM}
	tagInput, err := req.TagInput()
	if err != nil {
		t.Fatal(err)
	}
	tagHex := field(reqLine, 7)
	if want := reqLine[:strings.Index(reqLine, tagHex)]; tagInput != want {
		t.Errorf("TagInput =\n%s\nwant\n%s", tagInput, want)
	}
	req.Tag = testvec.Hex(t, tagHex)

	vkLine := v.record(t, "VK_REC")
	vk := &records.VK{Seq: 1, SGC: 123456, KRN: 1, KT: 2, BDT: 2014, DKGA: 2, EA: 7, KEN: 255,
		ACT: mustTime(t, "20250101T000000Z"), IUT: mustTime(t, "20260101T000000Z"), CLM: 0xFFFFFFFF,
		KCV: testvec.Hex(t, "D5D44F")}
	aad, err := vk.AAD()
	if err != nil {
		t.Fatal(err)
	}
	if want := "VK.1|1|123456|1|2|2014|02|07|255|20250101T000000Z|20260101T000000Z|FFFFFFFF|D5D44F|"; aad != want {
		t.Errorf("AAD = %s, want %s", aad, want)
	}
	vk.IV, vk.Ciphertext = testvec.Hex(t, field(vkLine, 13)), testvec.Hex(t, field(vkLine, 14))

	hdrLine := v.record(t, "KLF_HDR")
	endLine := v.record(t, "KLF_END")
	tests := []struct {
		name string
		fmt  func() (string, error)
	}{
		{"PK_ECDH", (&records.PKECDH{KMCID: kmcid, PublicKey: pubKMC, Expiry: mustTime(t, "20280101T000000Z")}).Format},
		{"VKLOAD_REQ", req.Format},
		{"KLF_HDR", (&records.KLFHeader{SMID: smid, KMCID: kmcid, RequestTime: tReq,
			IssueTime: mustTime(t, "20250103T121500Z"), Nonce: testvec.Hex(t, field(hdrLine, 5)), Count: 1}).Format},
		{"VK_REC", vk.Format},
		{"KLF_END", (&records.KLFEnd{Count: 1, MAC: testvec.Hex(t, field(endLine, 2))}).Format},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.fmt()
			if err != nil {
				t.Fatal(err)
			}
			if want := v.record(t, tt.name); got != want {
				t.Errorf("Format =\n%s\nwant\n%s", got, want)
			}
		})
	}
}
