package records

import (
	"crypto/ecdh"
	"crypto/sha256"
	"strings"
	"time"

	"github.com/stskms/stskms/sts"
)

// PKIDType is the type and version of a public key identifier, its first
// sub-field.
type PKIDType string

// The PKID types of the seed records.
const (
	// KMCID names a key management centre's static ECDH key.
	KMCID PKIDType = "KMCID.1"
	// SMID names a security module's static ECDH key.
	SMID PKIDType = "SMID.1"
)

// known reports whether t is a declared PKID type.
func (t PKIDType) known() bool { return t == KMCID || t == SMID }

// Hash64 is a 64-bit digest prefix — a PKID key hash or a record
// fingerprint — printed as 16 upper-case hex digits.
type Hash64 [8]byte

// String returns h as 16 upper-case hex digits.
func (h Hash64) String() string { return encodeHex(h[:]) }

// MarshalText returns h as 16 upper-case hex digits (so JSON prints it as
// a string).
func (h Hash64) MarshalText() ([]byte, error) { return appendHex(nil, h[:]), nil }

// KeyHash returns the key hash (KH) a PKID carries for a public key: the
// first 8 bytes of SHA-256 over the 97-byte uncompressed point 04‖X‖Y.
// This is our convention (notes kms-records.md §3.2); the seed PKIDs were
// made by an unpublished algorithm and do not match it.
func KeyHash(point []byte) Hash64 {
	sum := sha256.Sum256(point)
	return Hash64(sum[:8])
}

// Fingerprint returns the first 8 bytes of SHA-256 over a one-line record
// body exactly as given, CRC included. For a PK.ECDH.1 this is the "KMC
// Public Key Fingerprint" published out of band (our convention, notes
// kms-records.md §3.3).
func Fingerprint(body string) Hash64 {
	sum := sha256.Sum256([]byte(body))
	return Hash64(sum[:8])
}

// PKID is a public key identifier:
//
//	KMCID.1:<vendor>:<id>:<key generation time>:<KH>:<CRC>
//	SMID.1:<vendor>:<id>:<key generation time>:<KH>:<CRC>
//
// vendor and id are IDENTs, the time is YYYYMMDDTHHMMSSZ, KH is 16
// upper-case hex digits and CRC the CRC-16/MODBUS of everything before it,
// the last ":" included. The CRC is not stored: String computes it.
type PKID struct {
	// Type is KMCID or SMID.
	Type PKIDType
	// Vendor is the key owner's vendor, an IDENT ("Prism", "TestKMC").
	Vendor string
	// ID is the KMC or SM identifier, an IDENT ("K0001", "94000304").
	ID string
	// Time is when the key pair was generated, UTC, whole seconds.
	Time time.Time
	// KeyHash names the public key (see KeyHash).
	KeyHash Hash64
}

// NewPKID returns the PKID of pub under our key hash convention, after
// checking vendor and id and truncating keyTime to UTC seconds.
func NewPKID(t PKIDType, vendor, id string, keyTime time.Time, pub *ecdh.PublicKey) (PKID, error) {
	if pub == nil || pub.Curve() != ecdh.P384() {
		return PKID{}, &FieldError{Record: string(t), Field: "kh", Err: ErrPoint, Detail: "not a P-384 key"}
	}
	p := PKID{Type: t, Vendor: vendor, ID: id, Time: keyTime.UTC().Truncate(time.Second), KeyHash: KeyHash(pub.Bytes())}
	if err := p.Validate(); err != nil {
		return PKID{}, err
	}
	return p, nil
}

// ParsePKID parses a PKID. Parsing never checks the key hash (see
// CheckKey). When the only problem is a CRC mismatch, ParsePKID returns the
// parsed PKID together with a *CRCError; any other error comes with a zero
// PKID.
func ParsePKID(s string) (PKID, error) {
	p, crc, ferr := parsePKID(s)
	rec := ""
	if p.Type.known() {
		rec = string(p.Type)
	} else if t, _, ok := strings.Cut(s, ":"); ok && PKIDType(t).known() {
		rec = t
	}
	if ferr != nil {
		ferr.Record = rec
		if ferr.Field == "" {
			ferr.Field = "pkid"
		}
		return PKID{}, ferr
	}
	if !crc.OK {
		return p, &CRCError{Record: rec, Field: "crc", Printed: crc.Printed, Computed: crc.Computed}
	}
	return p, nil
}

// pkidParts is the number of ":"-separated sub-fields of a PKID.
const pkidParts = 6

// parsePKID parses s; errors name the sub-field ("vendor") or "" for the
// whole PKID, and the CRC check is returned, not treated as an error.
func parsePKID(s string) (PKID, CRCCheck, *FieldError) {
	var p PKID
	var crc CRCCheck
	if n := strings.Count(s, ":") + 1; n != pkidParts {
		return p, crc, fieldErr("", ErrFieldCount, "%d ':'-separated sub-fields, want %d", n, pkidParts)
	}
	typ, rest, _ := strings.Cut(s, ":")
	vendor, rest, _ := strings.Cut(rest, ":")
	id, rest, _ := strings.Cut(rest, ":")
	ts, rest, _ := strings.Cut(rest, ":")
	kh, crcText, _ := strings.Cut(rest, ":")
	if !PKIDType(typ).known() {
		return p, crc, fieldErr("type", ErrUnknownType, "%s, want %s or %s", quote(typ), KMCID, SMID)
	}
	p.Type = PKIDType(typ)
	sub := func(name string, e *FieldError) *FieldError {
		e.Field = name
		return e
	}
	if e := checkIdent(vendor); e != nil {
		return PKID{}, crc, sub("vendor", e)
	}
	if e := checkIdent(id); e != nil {
		return PKID{}, crc, sub("id", e)
	}
	t, e := parseTime(ts)
	if e != nil {
		return PKID{}, crc, sub("time", e)
	}
	if len(kh) != 2*len(p.KeyHash) {
		return PKID{}, crc, fieldErr("kh", ErrLength, "%d hex digits, want %d", len(kh), 2*len(p.KeyHash))
	}
	b, e := decodeHex(kh)
	if e != nil {
		return PKID{}, crc, sub("kh", e)
	}
	printed, e := parseCRC(crcText)
	if e != nil {
		return PKID{}, crc, sub("crc", e)
	}
	p.Vendor, p.ID, p.Time, p.KeyHash = vendor, id, t, Hash64(b)
	computed := CRC16Modbus(s[:len(s)-len(crcText)])
	crc = CRCCheck{Field: "crc", Printed: printed, Computed: computed, OK: printed == computed}
	return p, crc, nil
}

// parseCRC parses a printed CRC: exactly four upper-case hex digits.
func parseCRC(s string) (uint16, *FieldError) {
	if len(s) != 4 {
		return 0, fieldErr("", ErrLength, "%d hex digits, want 4", len(s))
	}
	if e := checkHex(s); e != nil {
		return 0, e
	}
	return uint16(unhex(s[0]))<<12 | uint16(unhex(s[1]))<<8 | uint16(unhex(s[2]))<<4 | uint16(unhex(s[3])), nil
}

// Validate checks that p formats as a valid PKID: a known type, IDENT
// vendor and id, a time in the years 0000..9999. It does not check the
// key hash.
func (p PKID) Validate() error {
	if e := p.validate(); e != nil {
		e.Record = string(p.Type)
		if !p.Type.known() {
			e.Record = ""
		}
		return e
	}
	return nil
}

func (p PKID) validate() *FieldError {
	if !p.Type.known() {
		return fieldErr("type", ErrUnknownType, "%s, want %s or %s", quote(string(p.Type)), KMCID, SMID)
	}
	if e := checkIdent(p.Vendor); e != nil {
		e.Field = "vendor"
		return e
	}
	if e := checkIdent(p.ID); e != nil {
		e.Field = "id"
		return e
	}
	if _, e := checkTime(p.Time); e != nil {
		e.Field = "time"
		return e
	}
	return nil
}

// String formats p with its CRC computed. It does not validate p; use
// Validate first for a PKID built by hand.
func (p PKID) String() string {
	return string(p.appendTo(make([]byte, 0, p.len())))
}

// len is the formatted length of a valid p.
func (p PKID) len() int {
	return len(p.Type) + len(p.Vendor) + len(p.ID) + len(TimeLayout) + 2*len(p.KeyHash) + 4 + 5
}

// appendTo appends p and its computed CRC.
func (p PKID) appendTo(b []byte) []byte {
	start := len(b)
	b = append(b, p.Type...)
	b = append(b, ':')
	b = append(b, p.Vendor...)
	b = append(b, ':')
	b = append(b, p.ID...)
	b = append(b, ':')
	b = appendTime(b, p.Time.UTC())
	b = append(b, ':')
	b = appendHex(b, p.KeyHash[:])
	b = append(b, ':')
	return appendCRC(b, sts.CRC16Update(0xFFFF, b[start:]))
}

// CheckKey reports whether p's key hash names pub under our convention
// (KeyHash over the uncompressed point). It fails with ErrKeyHash for the
// seed PKIDs, whose hashes were made by an unpublished algorithm: call it
// only where our convention applies.
func (p PKID) CheckKey(pub *ecdh.PublicKey) error {
	if pub == nil || pub.Curve() != ecdh.P384() {
		return &FieldError{Record: string(p.Type), Field: "kh", Err: ErrPoint, Detail: "not a P-384 key"}
	}
	if want := KeyHash(pub.Bytes()); p.KeyHash != want {
		return &FieldError{Record: string(p.Type), Field: "kh", Err: ErrKeyHash,
			Detail: "KH " + p.KeyHash.String() + ", key gives " + want.String()}
	}
	return nil
}
