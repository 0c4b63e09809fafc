package records_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/records"
)

// TestBuiltinSpecs pins the field names and kinds of every built-in record
// type, as docs/formats.md lists them (notes kms-records.md §3.3–§3.5).
func TestBuiltinSpecs(t *testing.T) {
	want := map[string]string{
		"PK.ECDH.1":    "kmcid:PKID public_key:P-384 public key expiry:timestamp",
		"VKLOAD.REQ.1": "smid:PKID kmcid:PKID t_req:timestamp sm_model:IDENT sm_firmware:IDENT public_key:P-384 public key tag:hex",
		"KLF.HDR.1":    "smid:PKID kmcid:PKID t_req:timestamp t_issue:timestamp nonce:hex n_vk:decimal",
		"VK.1": "seq:decimal sgc:decimal krn:decimal kt:decimal bdt:decimal dkga:decimal ea:decimal ken:decimal " +
			"act:timestamp iut:timestamp clm:hex kcv:hex iv:hex ct:hex",
		"KLF.END.1":   "n_vk:decimal mac:hex",
		"SMREG.HDR.1": "stsa_key:hex t_issue:timestamp update_seq:decimal n_sm:decimal",
		"SMREG.SM.1": "seq:decimal smid:PKID public_key:P-384 public key model:IDENT firmware:IDENT " +
			"variant:choice certified:choice revoked:choice",
		"SMREG.END.1": "n_sm:decimal signature:hex",
	}
	specs := records.Specs()
	if len(specs) != len(want) {
		t.Errorf("%d specs, want %d", len(specs), len(want))
	}
	for _, s := range specs {
		var got []string
		for _, f := range s.Fields() {
			got = append(got, f.Name+":"+f.Kind.String())
		}
		if strings.Join(got, " ") != want[s.Type()] {
			t.Errorf("%s fields\n%s\nwant\n%s", s.Type(), strings.Join(got, " "), want[s.Type()])
		}
		if records.Lookup(s.Type()) != s {
			t.Errorf("Lookup(%s) is another spec", s.Type())
		}
	}
	if records.Lookup("PK.ECDH.2") != nil || records.Lookup("") != nil {
		t.Error("Lookup of an unknown type is not nil")
	}
	// Fields returns a copy.
	fs := records.VKSpec.Fields()
	fs[4].OneOf[0] = 1
	if records.VKSpec.Fields()[4].OneOf[0] != 1993 {
		t.Error("Fields exposes the spec's OneOf slice")
	}
}

// TestCustomSpec declares a record type that is not built in: declaring the
// fields is all it takes to parse and format it.
func TestCustomSpec(t *testing.T) {
	spec, err := records.NewSpec("SMREG.ENTRY.1",
		records.PKIDField("smid", records.SMID, "public_key"),
		records.PublicKeyField("public_key"),
		records.IdentField("status", 1, 16),
		records.DecimalField("serial", 0, 0, 1<<32-1),
		records.HexField("sig", 1, 96),
	)
	if err != nil {
		t.Fatal(err)
	}
	v := loadVectors(t)
	r, err := records.New(spec, v.SMID, mustPub(t, v.PubSM), "certified", uint32(7), []byte{0xAB, 0x01})
	if err != nil {
		t.Fatal(err)
	}
	line := r.String()
	want := "SMREG.ENTRY.1|" + v.SMID + "|" + v.PubSM + "|certified|7|AB01|"
	if line != want+crcHex(want) {
		t.Errorf("String = %s", line)
	}
	back, err := spec.Parse(line)
	if err != nil || back.String() != line {
		t.Errorf("Parse = %v", err)
	}
	if err := back.CheckKeyHashes(); err != nil {
		t.Errorf("CheckKeyHashes: %v", err)
	}
	// The package-level Parse knows only the built-in types.
	if _, err := records.Parse(line); !errors.Is(err, records.ErrUnknownType) {
		t.Errorf("Parse of a custom type = %v", err)
	}
	// Spec.Parse refuses other types.
	if _, err := spec.Parse(v.record(t, "PK_ECDH")); !errors.Is(err, records.ErrUnknownType) {
		t.Errorf("Spec.Parse of another type = %v", err)
	}
}

// TestNewSpecErrors: malformed declarations fail with ErrSpec.
func TestNewSpecErrors(t *testing.T) {
	ok := records.TimeField("t")
	tests := []struct {
		name   string
		typ    string
		fields []records.Field
	}{
		{"no version", "PK.ECDH", []records.Field{ok}},
		{"version 0", "PK.ECDH.0", []records.Field{ok}},
		{"lower-case type", "pk.1", []records.Field{ok}},
		{"empty part", "PK..1", []records.Field{ok}},
		{"type with bar", "PK|X.1", []records.Field{ok}},
		{"empty field name", "X.1", []records.Field{records.TimeField("")}},
		{"reserved name crc", "X.1", []records.Field{records.TimeField("crc")}},
		{"upper-case name", "X.1", []records.Field{records.TimeField("T")}},
		{"duplicate name", "X.1", []records.Field{ok, ok}},
		{"IDENT 0 chars", "X.1", []records.Field{records.IdentField("a", 0, 5)}},
		{"IDENT 33 chars", "X.1", []records.Field{records.IdentField("a", 1, 33)}},
		{"hex 0 bytes", "X.1", []records.Field{records.HexField("a", 0, 4)}},
		{"hex min above max", "X.1", []records.Field{records.HexField("a", 5, 4)}},
		{"decimal max too wide", "X.1", []records.Field{records.DecimalField("a", 2, 0, 100)}},
		{"decimal 20 digits", "X.1", []records.Field{records.DecimalField("a", 20, 0, 1)}},
		{"decimal min above max", "X.1", []records.Field{records.DecimalField("a", 0, 5, 4)}},
		{"decimal set outside range", "X.1", []records.Field{{Name: "a", Kind: records.KindDecimal, Max: 5, OneOf: []uint64{6}}}},
		{"PKID unknown type", "X.1", []records.Field{records.PKIDField("a", "XID.1", "")}},
		{"PKID key field missing", "X.1", []records.Field{records.PKIDField("a", records.SMID, "k")}},
		{"PKID key field not a key", "X.1", []records.Field{records.PKIDField("a", records.SMID, "t"), ok}},
		{"unknown kind", "X.1", []records.Field{{Name: "a"}}},
		{"choice without tokens", "X.1", []records.Field{records.ChoiceField("a")}},
		{"choice token not an IDENT", "X.1", []records.Field{records.ChoiceField("a", "Y", "no way")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := records.NewSpec(tt.typ, tt.fields...)
			if !errors.Is(err, records.ErrSpec) || s != nil {
				t.Errorf("NewSpec = %v, %v; want ErrSpec", s, err)
			}
		})
	}
}

// TestRecordAccessors: typed access by name, and false for a missing name
// or another kind.
func TestRecordAccessors(t *testing.T) {
	v := loadVectors(t)
	r, err := records.Parse(v.record(t, "VK_REC"))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := r.Uint("sgc"); !ok || n != 123456 {
		t.Errorf("Uint(sgc) = %d, %v", n, ok)
	}
	if s, ok := r.Text("ea"); !ok || s != "07" {
		t.Errorf("Text(ea) = %q, %v", s, ok)
	}
	if tm, ok := r.Time("iut"); !ok || !tm.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || tm.Location() != time.UTC {
		t.Errorf("Time(iut) = %v, %v", tm, ok)
	}
	if b, ok := r.Bytes("kcv"); !ok || fmt.Sprintf("%X", b) != "D5D44F" {
		t.Errorf("Bytes(kcv) = %X, %v", b, ok)
	} else {
		b[0] = 0
		if again, _ := r.Bytes("kcv"); again[0] != 0xD5 {
			t.Error("Bytes exposes the record's bytes")
		}
	}
	for name, ok := range map[string]bool{
		"nope": false, "crc": false, "type": false,
	} {
		if _, got := r.Text(name); got != ok {
			t.Errorf("Text(%s) ok = %v", name, got)
		}
	}
	if _, ok := r.Uint("act"); ok {
		t.Error("Uint of a timestamp field")
	}
	if _, ok := r.Time("sgc"); ok {
		t.Error("Time of a decimal field")
	}
	if _, ok := r.PKID("sgc"); ok {
		t.Error("PKID of a decimal field")
	}
	if _, ok := r.PublicKey("iv"); ok {
		t.Error("PublicKey of a hex field")
	}
	if _, ok := r.Prefix("nope"); ok {
		t.Error("Prefix of an unknown field")
	}
	if p, ok := r.Prefix("seq"); !ok || p != "VK.1|" {
		t.Errorf("Prefix(seq) = %q", p)
	}
	if r.Spec() != records.VKSpec {
		t.Error("Spec is not VKSpec")
	}
}

// TestTimeTruncation: New stores times as UTC seconds.
func TestTimeTruncation(t *testing.T) {
	loc := time.FixedZone("SAST", 2*3600)
	r, err := records.New(records.KLFEndSpec, 3, make([]byte, 24))
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != "KLF.END.1|3|"+strings.Repeat("00", 24)+"|"+crcHex("KLF.END.1|3|"+strings.Repeat("00", 24)+"|") {
		t.Errorf("String = %s", r.String())
	}
	v := loadVectors(t)
	kmcid, _ := records.ParsePKID(v.KMCID)
	r, err = records.New(records.PKECDHSpec, kmcid, mustPub(t, v.PubKMC), time.Date(2028, 1, 1, 2, 0, 0, 999, loc))
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != v.record(t, "PK_ECDH") {
		t.Errorf("String = %s", r.String())
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[records.Kind]string{
		records.KindIdent: "IDENT", records.KindPKID: "PKID", records.KindTime: "timestamp", records.KindHex: "hex",
		records.KindPublicKey: "P-384 public key", records.KindDecimal: "decimal", records.KindChoice: "choice",
		0: "Kind(0)",
	} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %s, want %s", k, k, want)
		}
		if b, _ := k.MarshalText(); string(b) != want {
			t.Errorf("Kind(%d).MarshalText() = %s, want %s", k, b, want)
		}
	}
}
