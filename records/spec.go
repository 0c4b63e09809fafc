package records

import (
	"slices"
	"strconv"
	"strings"

	"github.com/stskms/stskms/sts"
)

// Spec declares a record type: its type name with version and its fields
// in order. The one generic parser (Spec.Parse, Parse) and formatter
// (New, Record.String) work from it; adding a record type is declaring a
// Spec with NewSpec. A Spec is immutable and safe for concurrent use.
//
// A record is
//
//	<type>|<field 1>|…|<field n>|<CRC>
//
// where CRC is the CRC-16/MODBUS (CRC16Modbus) of everything before it,
// the last "|" included, as four upper-case hex digits.
type Spec struct {
	typ    string
	fields []Field
}

// The record types of notes kms-records.md §3.3–§3.5 (docs/formats.md).
// Field order and widths follow the seed records where the seed shows them
// (PK.ECDH.1, VKLOAD.REQ.1); the Key Load File records are our definition.
var (
	// PKECDHSpec is PK.ECDH.1, the KMC's static P-384 ECDH public key
	// (seed STS 600-9-2 §5.1.3.5):
	//
	//	PK.ECDH.1|kmcid|public_key|expiry|CRC
	PKECDHSpec = mustSpec("PK.ECDH.1",
		PKIDField("kmcid", KMCID, "public_key"),
		PublicKeyField("public_key"),
		TimeField("expiry"),
	)
	// VKLoadReqSpec is VKLOAD.REQ.1, a security module's request for a Key
	// Load File (seed STS 600-9-2 §5.1.4.4). The firmware is 8 characters
	// as in the seed; the tag is 24 bytes:
	//
	//	VKLOAD.REQ.1|smid|kmcid|t_req|sm_model|sm_firmware|public_key|tag|CRC
	VKLoadReqSpec = mustSpec("VKLOAD.REQ.1",
		PKIDField("smid", SMID, "public_key"),
		PKIDField("kmcid", KMCID, ""),
		TimeField("t_req"),
		IdentField("sm_model", 1, MaxIdent),
		IdentField("sm_firmware", 8, 8),
		PublicKeyField("public_key"),
		HexField("tag", 24, 24),
	)
	// KLFHeaderSpec is KLF.HDR.1, the first record of a Key Load File (our
	// definition):
	//
	//	KLF.HDR.1|smid|kmcid|t_req|t_issue|nonce|n_vk|CRC
	KLFHeaderSpec = mustSpec("KLF.HDR.1",
		PKIDField("smid", SMID, ""),
		PKIDField("kmcid", KMCID, ""),
		TimeField("t_req"),
		TimeField("t_issue"),
		HexField("nonce", 32, 32),
		DecimalField("n_vk", 0, 1, MaxVKRecords),
	)
	// VKSpec is VK.1, one wrapped vending key of a Key Load File (our
	// definition). ct is the AES-256-GCM ciphertext and tag of an 8- to
	// 32-byte vending key:
	//
	//	VK.1|seq|sgc|krn|kt|bdt|dkga|ea|ken|act|iut|clm|kcv|iv|ct|CRC
	VKSpec = mustSpec("VK.1",
		DecimalField("seq", 0, 1, MaxVKRecords),
		DecimalField("sgc", sts.SGCDigits, 0, sts.MaxSGC),
		DecimalField("krn", sts.KRNDigits, sts.MinKRN, sts.MaxKRN),
		DecimalField("kt", 1, 0, 3),
		DecimalSetField("bdt", 4, 1993, 2014, 2035),
		DecimalField("dkga", 2, 1, 4),
		DecimalSetField("ea", 2, 7, 9, 11),
		DecimalField("ken", 0, 0, 255),
		TimeField("act"),
		TimeField("iut"),
		HexField("clm", 4, 4),
		HexField("kcv", 3, 3),
		HexField("iv", 12, 12),
		HexField("ct", 8+16, 32+16),
	)
	// KLFEndSpec is KLF.END.1, the last record of a Key Load File (our
	// definition): the number of VK.1 records and the file MAC.
	//
	//	KLF.END.1|n_vk|mac|CRC
	KLFEndSpec = mustSpec("KLF.END.1",
		DecimalField("n_vk", 0, 1, MaxVKRecords),
		HexField("mac", 24, 24),
	)
)

// MaxVKRecords is the most VK.1 records a Key Load File may hold (our
// limit; an SM keeps at least 25 vending key registers).
const MaxVKRecords = 9999

// builtin are the specs Parse and Lookup know.
var builtin = []*Spec{PKECDHSpec, VKLoadReqSpec, KLFHeaderSpec, VKSpec, KLFEndSpec, SMRegHeaderSpec, SMRegSMSpec, SMRegEndSpec}

// Lookup returns the built-in spec of a record type ("VK.1"), or nil.
func Lookup(typ string) *Spec {
	for _, s := range builtin {
		if s.typ == typ {
			return s
		}
	}
	return nil
}

// Specs returns the built-in specs, in the order of docs/formats.md.
func Specs() []*Spec { return slices.Clone(builtin) }

func mustSpec(typ string, fields ...Field) *Spec {
	s, err := NewSpec(typ, fields...)
	if err != nil {
		panic(err)
	}
	return s
}

// NewSpec declares a record type. typ is NAME *("." NAME) "." VERSION with
// NAME an upper-case letter followed by upper-case letters and digits and
// VERSION a decimal without leading zero ("PK.ECDH.1"). Each field must be
// well-formed for its kind: IDENT lengths within 1..MaxIdent, hex lengths
// of at least one byte, decimal widths of at most 19 digits with Max below
// 10^Digits, a PKID KeyField naming a public-key field. Errors wrap ErrSpec.
func NewSpec(typ string, fields ...Field) (*Spec, error) {
	specErr := func(field, format string, args ...any) error {
		e := fieldErr(field, ErrSpec, format, args...)
		e.Record = typ
		return e
	}
	if !validTypeName(typ) {
		return nil, specErr("type", "type name %s", quote(typ))
	}
	s := &Spec{typ: typ, fields: make([]Field, len(fields))}
	for i, f := range fields {
		f.OneOf, f.Choices = slices.Clone(f.OneOf), slices.Clone(f.Choices)
		s.fields[i] = f
		if !validFieldName(f.Name) {
			return nil, specErr(f.Name, "field name %s", quote(f.Name))
		}
		if s.index(f.Name) != i {
			return nil, specErr(f.Name, "duplicate field name")
		}
	}
	for _, f := range s.fields {
		if msg := s.checkField(&f); msg != "" {
			return nil, specErr(f.Name, "%s", msg)
		}
	}
	return s, nil
}

// checkField returns what is wrong with a field declaration, or "".
func (s *Spec) checkField(f *Field) string {
	switch f.Kind {
	case KindIdent:
		if f.MinLen < 1 || f.MinLen > f.MaxLen || f.MaxLen > MaxIdent {
			return "IDENT length " + strconv.Itoa(f.MinLen) + ".." + strconv.Itoa(f.MaxLen) + " not within 1.." + strconv.Itoa(MaxIdent)
		}
	case KindPKID:
		if f.PKIDType != "" && !f.PKIDType.known() {
			return "unknown PKID type " + quote(string(f.PKIDType))
		}
		if f.KeyField != "" {
			if j := s.index(f.KeyField); j < 0 || s.fields[j].Kind != KindPublicKey {
				return "key field " + quote(f.KeyField) + " is not a public-key field"
			}
		}
	case KindTime, KindPublicKey:
	case KindChoice:
		if len(f.Choices) == 0 {
			return "choice without tokens"
		}
		for _, c := range f.Choices {
			if checkIdent(c) != nil {
				return "choice token " + quote(c) + " is not an IDENT"
			}
		}
	case KindHex:
		if f.MinLen < 1 || f.MinLen > f.MaxLen {
			return "hex length " + strconv.Itoa(f.MinLen) + ".." + strconv.Itoa(f.MaxLen) + " bytes"
		}
	case KindDecimal:
		if f.Digits < 0 || f.Digits > 19 {
			return "decimal width " + strconv.Itoa(f.Digits)
		}
		if f.Min > f.Max {
			return "decimal range min above max"
		}
		if f.Digits > 0 && len(strconv.FormatUint(f.Max, 10)) > f.Digits {
			return "decimal max wider than the field"
		}
		for _, v := range f.OneOf {
			if v < f.Min || v > f.Max {
				return "decimal set value outside min..max"
			}
		}
	default:
		return "unknown field kind " + f.Kind.String()
	}
	return ""
}

func validTypeName(typ string) bool {
	if len(typ) > 32 {
		return false
	}
	parts := strings.Split(typ, ".")
	if len(parts) < 2 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			return false
		}
		if i == len(parts)-1 {
			if p[0] == '0' {
				return false
			}
			for _, c := range []byte(p) {
				if c < '0' || c > '9' {
					return false
				}
			}
			continue
		}
		if p[0] < 'A' || p[0] > 'Z' {
			return false
		}
		for _, c := range []byte(p) {
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

func validFieldName(name string) bool {
	if name == "" || name == "type" || name == "crc" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// index returns the position of the named field, or -1.
func (s *Spec) index(name string) int {
	for i := range s.fields {
		if s.fields[i].Name == name {
			return i
		}
	}
	return -1
}

// Type returns the record type with its version, e.g. "PK.ECDH.1".
func (s *Spec) Type() string { return s.typ }

// Fields returns the field declarations in record order (a copy).
func (s *Spec) Fields() []Field {
	fs := slices.Clone(s.fields)
	for i := range fs {
		fs[i].OneOf, fs[i].Choices = slices.Clone(fs[i].OneOf), slices.Clone(fs[i].Choices)
	}
	return fs
}
