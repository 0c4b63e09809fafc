package records_test

import (
	"crypto/ecdh"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/records"
)

// TestParseErrors mutates the §3.7 vectors (testdata/kms-vectors.json) one
// field at a time. Each failure must be a *FieldError naming the record
// type and the field, wrapping the right sentinel, with a nil record and a
// short message.
func TestParseErrors(t *testing.T) {
	v := loadVectors(t)
	pk, req, hdr := v.record(t, "PK_ECDH"), v.record(t, "VKLOAD_REQ"), v.record(t, "KLF_HDR")
	vk, end := v.record(t, "VK_REC"), v.record(t, "KLF_END")
	pub := field(pk, 2)
	// offCurve changes the last digit of Y: the point leaves the curve.
	offCurve := pub[:len(pub)-1] + "8"
	if strings.HasSuffix(pub, "8") {
		offCurve = pub[:len(pub)-1] + "9"
	}
	kmcid := field(pk, 1)
	tests := []struct {
		name   string
		line   string
		want   error
		record string
		field  string
	}{
		{"empty", "", records.ErrUnknownType, "", "type"},
		{"no bar", "PK.ECDH.1", records.ErrFieldCount, "PK.ECDH.1", ""},
		{"no bar, unknown", "PK.ECDH", records.ErrUnknownType, "", "type"},
		{"unknown version", strings.Replace(pk, "PK.ECDH.1", "PK.ECDH.2", 1), records.ErrUnknownType, "PK.ECDH.2", "type"},
		{"lower-case type", strings.Replace(pk, "PK.ECDH.1", "pk.ecdh.1", 1), records.ErrUnknownType, "", "type"},
		{"field missing", strings.Replace(pk, "|20280101T000000Z", "", 1), records.ErrFieldCount, "PK.ECDH.1", ""},
		{"field extra", replaceField(end, 2, field(end, 2)+"|00"), records.ErrFieldCount, "KLF.END.1", ""},
		{"CRLF after CRC", pk + "\r\n", records.ErrLength, "PK.ECDH.1", "crc"},
		{"CRC lower case", strings.TrimSuffix(req, "7220") + "722a", records.ErrLowerHex, "VKLOAD.REQ.1", "crc"},
		{"CRC non-hex", strings.TrimSuffix(req, "7220") + "72G0", records.ErrHex, "VKLOAD.REQ.1", "crc"},
		{"CRC short", strings.TrimSuffix(req, "7220") + "720", records.ErrLength, "VKLOAD.REQ.1", "crc"},
		{"model with space", replaceField(req, 4, "Test SSM-1"), records.ErrIdent, "VKLOAD.REQ.1", "sm_model"},
		{"model starts with dash", replaceField(req, 4, "-Test"), records.ErrIdent, "VKLOAD.REQ.1", "sm_model"},
		{"model empty", replaceField(req, 4, ""), records.ErrIdent, "VKLOAD.REQ.1", "sm_model"},
		{"model 33 chars", replaceField(req, 4, strings.Repeat("M", 33)), records.ErrIdent, "VKLOAD.REQ.1", "sm_model"},
		{"model non-ASCII", replaceField(req, 4, "Test-SSM-é"), records.ErrIdent, "VKLOAD.REQ.1", "sm_model"},
		{"firmware 7 chars", replaceField(req, 5, "SSM1V10"), records.ErrLength, "VKLOAD.REQ.1", "sm_firmware"},
		{"expiry month 13", replaceField(pk, 3, "20281301T000000Z"), records.ErrTime, "PK.ECDH.1", "expiry"},
		{"expiry 30 February", replaceField(pk, 3, "20280230T000000Z"), records.ErrTime, "PK.ECDH.1", "expiry"},
		{"expiry 24h", replaceField(pk, 3, "20280101T240000Z"), records.ErrTime, "PK.ECDH.1", "expiry"},
		{"expiry leap second", replaceField(pk, 3, "20281231T235960Z"), records.ErrTime, "PK.ECDH.1", "expiry"},
		{"expiry no Z", replaceField(pk, 3, "20280101T000000"), records.ErrTime, "PK.ECDH.1", "expiry"},
		{"expiry extended format", replaceField(pk, 3, "2028-01-01T00:00:00Z"), records.ErrTime, "PK.ECDH.1", "expiry"},
		{"t_issue lower t", replaceField(hdr, 4, "20250103t121500Z"), records.ErrTime, "KLF.HDR.1", "t_issue"},
		{"key non-hex", replaceField(pk, 2, pub[:100]+"X"+pub[101:]), records.ErrHex, "PK.ECDH.1", "public_key"},
		{"key lower case", replaceField(pk, 2, strings.ToLower(pub)), records.ErrLowerHex, "PK.ECDH.1", "public_key"},
		{"key short", replaceField(pk, 2, pub[:192]), records.ErrLength, "PK.ECDH.1", "public_key"},
		{"key compressed prefix", replaceField(pk, 2, "02"+pub[2:]), records.ErrPoint, "PK.ECDH.1", "public_key"},
		{"key off the curve", replaceField(pk, 2, offCurve), records.ErrPoint, "PK.ECDH.1", "public_key"},
		{"key all zero", replaceField(pk, 2, "04"+strings.Repeat("0", 192)), records.ErrPoint, "PK.ECDH.1", "public_key"},
		{"tag 23 bytes", replaceField(req, 7, field(req, 7)[:46]), records.ErrLength, "VKLOAD.REQ.1", "tag"},
		{"tag odd length", replaceField(req, 7, field(req, 7)[:47]), records.ErrLength, "VKLOAD.REQ.1", "tag"},
		{"nonce lower case", replaceField(hdr, 5, strings.ToLower(field(hdr, 5))), records.ErrLowerHex, "KLF.HDR.1", "nonce"},
		{"n_vk zero", replaceField(hdr, 6, "0"), records.ErrRange, "KLF.HDR.1", "n_vk"},
		{"n_vk leading zero", replaceField(hdr, 6, "01"), records.ErrDecimal, "KLF.HDR.1", "n_vk"},
		{"n_vk 10000", replaceField(end, 1, "10000"), records.ErrRange, "KLF.END.1", "n_vk"},
		{"n_vk 21 digits", replaceField(end, 1, strings.Repeat("9", 21)), records.ErrRange, "KLF.END.1", "n_vk"},
		{"n_vk sign", replaceField(end, 1, "+1"), records.ErrDecimal, "KLF.END.1", "n_vk"},
		{"n_vk empty", replaceField(end, 1, ""), records.ErrDecimal, "KLF.END.1", "n_vk"},
		{"sgc letter", replaceField(vk, 2, "12345A"), records.ErrDecimal, "VK.1", "sgc"},
		{"sgc 5 digits", replaceField(vk, 2, "12345"), records.ErrLength, "VK.1", "sgc"},
		{"krn 0", replaceField(vk, 3, "0"), records.ErrRange, "VK.1", "krn"},
		{"kt 4", replaceField(vk, 4, "4"), records.ErrRange, "VK.1", "kt"},
		{"bdt 2015", replaceField(vk, 5, "2015"), records.ErrRange, "VK.1", "bdt"},
		{"dkga one digit", replaceField(vk, 6, "2"), records.ErrLength, "VK.1", "dkga"},
		{"ea 08", replaceField(vk, 7, "08"), records.ErrRange, "VK.1", "ea"},
		{"ken 256", replaceField(vk, 8, "256"), records.ErrRange, "VK.1", "ken"},
		{"ken 0255", replaceField(vk, 8, "0255"), records.ErrDecimal, "VK.1", "ken"},
		{"clm 3 bytes", replaceField(vk, 11, "FFFFFF"), records.ErrLength, "VK.1", "clm"},
		{"iv non-hex", replaceField(vk, 13, "2A8418032A4E42EBCEB1C0-B"), records.ErrHex, "VK.1", "iv"},
		{"ct 23 bytes", replaceField(vk, 14, field(vk, 14)[:46]), records.ErrLength, "VK.1", "ct"},
		{"mac lower case", replaceField(end, 2, strings.ToLower(field(end, 2))), records.ErrLowerHex, "KLF.END.1", "mac"},
		// PKID sub-fields inside a record.
		{"PKID 5 sub-fields", replaceField(pk, 1, strings.Replace(kmcid, ":K0001", "", 1)), records.ErrFieldCount, "PK.ECDH.1", "kmcid"},
		{"PKID unknown type", replaceField(pk, 1, "X"+kmcid), records.ErrUnknownType, "PK.ECDH.1", "kmcid.type"},
		{"PKID version 2", replaceField(pk, 1, strings.Replace(kmcid, "KMCID.1", "KMCID.2", 1)), records.ErrUnknownType, "PK.ECDH.1", "kmcid.type"},
		{"SMID where KMCID belongs", replaceField(pk, 1, v.SMID), records.ErrPKIDType, "PK.ECDH.1", "kmcid.type"},
		{"KMCID where SMID belongs", replaceField(req, 1, v.KMCID), records.ErrPKIDType, "VKLOAD.REQ.1", "smid.type"},
		{"PKID vendor", replaceField(pk, 1, strings.Replace(kmcid, "TestKMC", "Test/KMC", 1)), records.ErrIdent, "PK.ECDH.1", "kmcid.vendor"},
		{"PKID empty id", replaceField(pk, 1, strings.Replace(kmcid, "K0001", "", 1)), records.ErrIdent, "PK.ECDH.1", "kmcid.id"},
		{"PKID time", replaceField(req, 2, strings.Replace(kmcid, "20250101T", "20250001T", 1)), records.ErrTime, "VKLOAD.REQ.1", "kmcid.time"},
		{"PKID KH lower", replaceField(pk, 1, strings.Replace(kmcid, "596A20E33788ED93", "596a20e33788ed93", 1)), records.ErrLowerHex, "PK.ECDH.1", "kmcid.kh"},
		{"PKID KH short", replaceField(pk, 1, strings.Replace(kmcid, "596A20E33788ED93", "596A20E33788ED9", 1)), records.ErrLength, "PK.ECDH.1", "kmcid.kh"},
		{"PKID CRC non-hex", replaceField(hdr, 2, strings.TrimSuffix(kmcid, "18C3")+"18CX"), records.ErrHex, "KLF.HDR.1", "kmcid.crc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := records.Parse(tt.line)
			wantFieldError(t, err, tt.want, tt.record, tt.field)
			if r != nil {
				t.Errorf("Parse returned a record with a format error")
			}
			if errors.Is(err, records.ErrCRC) {
				t.Errorf("format error also matches ErrCRC: %v", err)
			}
			if msg := err.Error(); len(msg) > 160 || strings.Contains(msg, pub[20:60]) {
				t.Errorf("message too long or quoting key material: %q", msg)
			}
		})
	}
}

// wantFieldError fails t unless err wraps want and is a *FieldError
// naming record and field.
func wantFieldError(t *testing.T, err, want error, record, field string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	var fe *records.FieldError
	if !errors.As(err, &fe) || fe.Record != record || fe.Field != field {
		t.Errorf("error %#v, want record %q field %q", err, record, field)
	}
}

// TestParseCRCOnly: records whose only problems are CRCs come back parsed,
// with every mismatch as a *CRCError naming the field, and String gives the
// corrected vector.
func TestParseCRCOnly(t *testing.T) {
	v := loadVectors(t)
	req := v.record(t, "VKLOAD_REQ")
	badSMID := strings.Replace(req, ":A68E|", ":A68F|", 1)
	tests := []struct {
		name   string
		line   string
		fields []string // fields whose CRC mismatches, in order
	}{
		{"record CRC", strings.TrimSuffix(req, "7220") + "7221", []string{"crc"}},
		{"SMID CRC, record CRC fixed", withCRC(badSMID), []string{"smid.crc"}},
		{"SMID and record CRC", badSMID, []string{"smid.crc", "crc"}},
		{"all three", strings.Replace(badSMID, ":18C3|", ":0000|", 1), []string{"smid.crc", "kmcid.crc", "crc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := records.Parse(tt.line)
			if !errors.Is(err, records.ErrCRC) {
				t.Fatalf("error = %v, want ErrCRC", err)
			}
			if r == nil {
				t.Fatal("no record")
			}
			var bad []string
			for _, c := range r.CRCs() {
				if !c.OK {
					bad = append(bad, c.Field)
					if msg := err.Error(); !strings.Contains(msg, "field "+c.Field+": CRC mismatch: printed "+hex4(c.Printed)+", computed "+hex4(c.Computed)) {
						t.Errorf("message %q lacks %s printed %04X computed %04X", msg, c.Field, c.Printed, c.Computed)
					}
				}
			}
			if strings.Join(bad, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("mismatching CRCs %v, want %v", bad, tt.fields)
			}
			var ce *records.CRCError
			if !errors.As(err, &ce) || ce.Record != "VKLOAD.REQ.1" || ce.Field != tt.fields[0] {
				t.Errorf("first CRCError = %+v", ce)
			}
			if r.String() != req {
				t.Errorf("String =\n%s\nwant the vector\n%s", r.String(), req)
			}
			if q, err := records.ParseVKLoadReq(tt.line); q == nil || !errors.Is(err, records.ErrCRC) {
				t.Errorf("ParseVKLoadReq = %v, %v", q, err)
			}
		})
	}
}

func hex4(c uint16) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[c>>12], digits[c>>8&0xF], digits[c>>4&0xF], digits[c&0xF]})
}

// TestParsePKIDErrors: a PKID parsed on its own names its type as the
// record and the sub-field as the field.
func TestParsePKIDErrors(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		name   string
		pkid   string
		want   error
		record string
		field  string
	}{
		{"empty", "", records.ErrFieldCount, "", "pkid"},
		{"7 sub-fields", v.KMCID + ":0000", records.ErrFieldCount, "KMCID.1", "pkid"},
		{"unknown type", strings.Replace(v.SMID, "SMID.1", "SMID", 1), records.ErrUnknownType, "", "type"},
		{"bad vendor", strings.Replace(v.SMID, "TestVendor", "Test Vendor", 1), records.ErrIdent, "SMID.1", "vendor"},
		{"id 33 chars", strings.Replace(v.SMID, "94000001", strings.Repeat("9", 33), 1), records.ErrIdent, "SMID.1", "id"},
		{"time", strings.Replace(v.SMID, "T000000Z", "T000000", 1), records.ErrTime, "SMID.1", "time"},
		{"KH non-hex", strings.Replace(v.SMID, "930F65E7777667E1", "930F65E7777667EG", 1), records.ErrHex, "SMID.1", "kh"},
		{"CRC lower", strings.Replace(v.SMID, "A68E", "a68e", 1), records.ErrLowerHex, "SMID.1", "crc"},
		{"CRC long", v.SMID + "0", records.ErrLength, "SMID.1", "crc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := records.ParsePKID(tt.pkid)
			wantFieldError(t, err, tt.want, tt.record, tt.field)
			if p != (records.PKID{}) {
				t.Errorf("PKID %+v returned with a format error", p)
			}
		})
	}
	// A CRC mismatch alone returns the PKID with the error.
	bad := strings.Replace(v.KMCID, "18C3", "18C4", 1)
	p, err := records.ParsePKID(bad)
	var ce *records.CRCError
	if !errors.As(err, &ce) || ce.Record != "KMCID.1" || ce.Field != "crc" || ce.Printed != 0x18C4 || ce.Computed != 0x18C3 {
		t.Fatalf("ParsePKID(%s) error = %#v", bad, err)
	}
	if p.String() != v.KMCID {
		t.Errorf("PKID with CRC error re-formats to %s, want %s", p, v.KMCID)
	}
}

// TestNewErrors: New rejects values that the field cannot take, with the
// record type and field named.
func TestNewErrors(t *testing.T) {
	v := loadVectors(t)
	kmcid, _ := records.ParsePKID(v.KMCID)
	smid, _ := records.ParsePKID(v.SMID)
	pubKMC := mustPub(t, v.PubKMC)
	expiry := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	end := func(vals ...any) []any { return vals }
	tests := []struct {
		name   string
		spec   *records.Spec
		values []any
		want   error
		field  string
	}{
		{"too few values", records.PKECDHSpec, end(kmcid, pubKMC), records.ErrFieldCount, ""},
		{"wrong Go type", records.PKECDHSpec, end(kmcid, pubKMC, "2028"), records.ErrTime, "expiry"},
		{"int for a time", records.PKECDHSpec, end(kmcid, pubKMC, 2028), records.ErrValue, "expiry"},
		{"SMID as KMCID", records.PKECDHSpec, end(smid, pubKMC, expiry), records.ErrPKIDType, "kmcid.type"},
		{"PKID bad vendor", records.PKECDHSpec, end(records.PKID{Type: records.KMCID, Vendor: "a b", ID: "K1"}, pubKMC, expiry), records.ErrIdent, "kmcid.vendor"},
		{"PKID text bad CRC", records.PKECDHSpec, end(strings.Replace(v.KMCID, "18C3", "0000", 1), pubKMC, expiry), records.ErrCRC, "kmcid.crc"},
		{"nil key", records.PKECDHSpec, end(kmcid, (*ecdh.PublicKey)(nil), expiry), records.ErrPoint, "public_key"},
		{"key bytes off curve", records.PKECDHSpec, end(kmcid, append([]byte{4}, make([]byte, 96)...), expiry), records.ErrPoint, "public_key"},
		{"key bytes short", records.PKECDHSpec, end(kmcid, []byte{4}, expiry), records.ErrLength, "public_key"},
		{"year 10000", records.PKECDHSpec, end(kmcid, pubKMC, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), records.ErrTime, "expiry"},
		{"negative decimal", records.KLFEndSpec, end(-1, make([]byte, 24)), records.ErrRange, "n_vk"},
		{"decimal too large", records.KLFEndSpec, end(uint64(1)<<63, make([]byte, 24)), records.ErrRange, "n_vk"},
		{"float decimal", records.KLFEndSpec, end(1.0, make([]byte, 24)), records.ErrValue, "n_vk"},
		{"hex too short", records.KLFEndSpec, end(1, make([]byte, 23)), records.ErrLength, "mac"},
		{"firmware 9 chars", records.VKLoadReqSpec, end(smid, kmcid, expiry, "M", "SSM1V1000", pubKMC, make([]byte, 24)), records.ErrLength, "sm_firmware"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := records.New(tt.spec, tt.values...)
			if !errors.Is(err, tt.want) || r != nil {
				t.Fatalf("New = %v, %v; want %v", r, err, tt.want)
			}
			var fe *records.FieldError
			var ce *records.CRCError
			switch {
			case errors.As(err, &fe):
				if fe.Record != tt.spec.Type() || fe.Field != tt.field {
					t.Errorf("error %v names %q %q, want %q %q", err, fe.Record, fe.Field, tt.spec.Type(), tt.field)
				}
			case errors.As(err, &ce):
				if ce.Record != tt.spec.Type() || ce.Field != tt.field {
					t.Errorf("error %v names %q %q", err, ce.Record, ce.Field)
				}
			default:
				t.Errorf("error %T", err)
			}
		})
	}
}

// TestKeyHashMismatch: a PKID that names another key fails CheckKey and
// CheckKeyHashes with ErrKeyHash, showing both hashes.
func TestKeyHashMismatch(t *testing.T) {
	v := loadVectors(t)
	kmcid, _ := records.ParsePKID(v.KMCID)
	pubSM := mustPub(t, v.PubSM)
	err := kmcid.CheckKey(pubSM)
	if !errors.Is(err, records.ErrKeyHash) || !strings.Contains(err.Error(), v.KMCIDKH) || !strings.Contains(err.Error(), v.SMIDKH) {
		t.Errorf("CheckKey(other key) = %v", err)
	}
	if err := kmcid.CheckKey(nil); !errors.Is(err, records.ErrPoint) {
		t.Errorf("CheckKey(nil) = %v", err)
	}
	// A PK.ECDH.1 publishing the SM key under the KMCID.
	r, err := records.New(records.PKECDHSpec, kmcid, pubSM, time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	err = r.CheckKeyHashes()
	var fe *records.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, records.ErrKeyHash) || fe.Record != "PK.ECDH.1" || fe.Field != "kmcid.kh" {
		t.Errorf("CheckKeyHashes = %#v", err)
	}
	pk := &records.PKECDH{KMCID: kmcid, PublicKey: pubSM}
	if err := pk.CheckKeyHash(); !errors.As(err, &fe) || fe.Record != "PK.ECDH.1" || fe.Field != "kmcid.kh" {
		t.Errorf("PKECDH.CheckKeyHash = %v", err)
	}
}
