package records

import (
	"crypto/ecdh"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Kind is the kind of a record field: it decides how the field is parsed,
// checked and formatted.
type Kind uint8

// Field kinds.
const (
	// KindIdent is an IDENT: 1 to 32 characters of A-Z a-z 0-9 "-" "_"
	// ".", the first a letter or digit (MaxIdent). A field may narrow the
	// length with MinLen and MaxLen.
	KindIdent Kind = iota + 1
	// KindPKID is a public key identifier, KMCID.1 or SMID.1 (see PKID),
	// with its own CRC.
	KindPKID
	// KindTime is a UTC timestamp YYYYMMDDTHHMMSSZ (ISO 8601 basic).
	KindTime
	// KindHex is upper-case hex of MinLen to MaxLen bytes (twice as many
	// digits).
	KindHex
	// KindPublicKey is a NIST P-384 public key: 194 upper-case hex digits,
	// the 97-byte uncompressed SEC1 point 04‖X‖Y, which must lie on the
	// curve.
	KindPublicKey
	// KindDecimal is an unsigned decimal number: Digits digits exactly
	// (zero-padded) when Digits > 0, else without leading zeros; its value
	// lies in [Min, Max] and, when OneOf is not empty, in OneOf.
	KindDecimal
	// KindChoice is one of a fixed list of tokens (Choices), such as "Y" or
	// "N", compared exactly (case matters).
	KindChoice
)

// String returns the kind's name as docs/formats.md uses it.
func (k Kind) String() string {
	switch k {
	case KindIdent:
		return "IDENT"
	case KindPKID:
		return "PKID"
	case KindTime:
		return "timestamp"
	case KindHex:
		return "hex"
	case KindPublicKey:
		return "P-384 public key"
	case KindDecimal:
		return "decimal"
	case KindChoice:
		return "choice"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText returns the kind's name, so JSON prints it as a string.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// MaxIdent is the longest IDENT (our definition; the seeds' longest is the
// 14-character model Prism-TSM250-1).
const MaxIdent = 32

// PublicKeySize is the length of an uncompressed P-384 point in bytes; it
// prints as 2*PublicKeySize hex digits.
const PublicKeySize = 97

// TimeLayout is the layout of every record timestamp, for time.Format and
// time.Parse. Record timestamps are always UTC.
const TimeLayout = "20060102T150405Z"

// Field declares one field of a record type. Build fields with the
// constructors (IdentField, PKIDField, TimeField, HexField, PublicKeyField,
// DecimalField, DecimalSetField) or as literals; NewSpec checks them.
type Field struct {
	// Name is the field's name: lower-case letters, digits and "_",
	// unique within its record; "type" and "crc" are reserved.
	Name string
	// Kind says how the field is parsed and formatted.
	Kind Kind
	// MinLen and MaxLen bound the length: characters of an IDENT (within
	// 1..MaxIdent), bytes of a hex field (each byte is two hex digits).
	MinLen, MaxLen int
	// Digits is the fixed width of a decimal field (zero-padded); 0 means
	// variable width without leading zeros.
	Digits int
	// Min and Max bound the value of a decimal field.
	Min, Max uint64
	// OneOf, when not empty, lists the only values a decimal field may
	// take.
	OneOf []uint64
	// Choices lists the tokens a choice field may take (each an IDENT).
	Choices []string
	// PKIDType is the type a PKID field must have; empty accepts either.
	PKIDType PKIDType
	// KeyField names the public-key field of the same record whose key
	// hash this PKID field carries. Only Record.CheckKeyHashes checks it;
	// Parse does not.
	KeyField string
}

// IdentField declares an IDENT field of minLen to maxLen characters
// (within 1..MaxIdent).
func IdentField(name string, minLen, maxLen int) Field {
	return Field{Name: name, Kind: KindIdent, MinLen: minLen, MaxLen: maxLen}
}

// PKIDField declares a PKID field of type t ("" for either). keyField, if
// not empty, names the public-key field whose key hash the PKID carries.
func PKIDField(name string, t PKIDType, keyField string) Field {
	return Field{Name: name, Kind: KindPKID, PKIDType: t, KeyField: keyField}
}

// TimeField declares a timestamp field.
func TimeField(name string) Field {
	return Field{Name: name, Kind: KindTime}
}

// HexField declares an upper-case hex field of minBytes to maxBytes bytes.
func HexField(name string, minBytes, maxBytes int) Field {
	return Field{Name: name, Kind: KindHex, MinLen: minBytes, MaxLen: maxBytes}
}

// PublicKeyField declares a P-384 public key field.
func PublicKeyField(name string) Field {
	return Field{Name: name, Kind: KindPublicKey}
}

// DecimalField declares a decimal field in [min, max]: digits wide,
// zero-padded, or of variable width without leading zeros if digits is 0.
func DecimalField(name string, digits int, min, max uint64) Field {
	return Field{Name: name, Kind: KindDecimal, Digits: digits, Min: min, Max: max}
}

// DecimalSetField declares a decimal field of digits width that takes only
// the listed values.
func DecimalSetField(name string, digits int, values ...uint64) Field {
	f := Field{Name: name, Kind: KindDecimal, Digits: digits, OneOf: values}
	if len(values) > 0 {
		f.Min, f.Max = values[0], values[0]
		for _, v := range values {
			f.Min, f.Max = min(f.Min, v), max(f.Max, v)
		}
	}
	return f
}

// ChoiceField declares a field that takes exactly one of the given tokens
// (each an IDENT), e.g. ChoiceField("certified", "Y", "N").
func ChoiceField(name string, choices ...string) Field {
	return Field{Name: name, Kind: KindChoice, Choices: choices}
}

// value is one parsed or constructed field. text is the field as printed
// (canonical, since parsing is strict) except for a PKID, which formats
// from pkid with a recomputed CRC.
type value struct {
	text string
	pkid PKID
	t    time.Time
	b    []byte // hex bytes or the public key point
	n    uint64
	pub  *ecdh.PublicKey
}

// fieldErr makes an error about the field as a whole (sub == "") or one of
// its PKID sub-fields; the record type is filled in by the caller.
func fieldErr(sub string, err error, format string, args ...any) *FieldError {
	return &FieldError{Field: sub, Err: err, Detail: fmt.Sprintf(format, args...)}
}

// parse checks text against the declaration and returns its value. A PKID
// whose CRC does not verify is returned with ok == false in crc, not as an
// error.
func (f *Field) parse(text string) (v value, crc CRCCheck, ferr *FieldError) {
	v.text = text
	switch f.Kind {
	case KindIdent:
		ferr = f.checkIdent(text)
	case KindPKID:
		v.pkid, crc, ferr = parsePKID(text)
		if ferr == nil && f.PKIDType != "" && v.pkid.Type != f.PKIDType {
			ferr = fieldErr("type", ErrPKIDType, "%s, want %s", v.pkid.Type, f.PKIDType)
		}
	case KindTime:
		v.t, ferr = parseTime(text)
	case KindHex:
		if n := len(text); n < 2*f.MinLen || n > 2*f.MaxLen || n%2 != 0 {
			return v, crc, fieldErr("", ErrLength, "%d hex digits, want %s", n, f.hexWidth(2))
		}
		v.b, ferr = decodeHex(text)
	case KindPublicKey:
		v.b, v.pub, ferr = parsePublicKey(text)
	case KindDecimal:
		v.n, ferr = f.parseDecimal(text)
	case KindChoice:
		ferr = f.checkChoice(text)
	default:
		ferr = fieldErr("", ErrSpec, "field kind %v", f.Kind)
	}
	return v, crc, ferr
}

// hexWidth describes the allowed length in hex digits (unit 2) or bytes
// (unit 1).
func (f *Field) hexWidth(unit int) string {
	if f.MinLen == f.MaxLen {
		return strconv.Itoa(unit * f.MinLen)
	}
	return strconv.Itoa(unit*f.MinLen) + ".." + strconv.Itoa(unit*f.MaxLen)
}

// checkIdent applies the IDENT rule and the field's length bounds.
func (f *Field) checkIdent(s string) *FieldError {
	if err := checkIdent(s); err != nil {
		return err
	}
	if len(s) < f.MinLen || len(s) > f.MaxLen {
		if f.MinLen == f.MaxLen {
			return fieldErr("", ErrLength, "%d characters, want %d", len(s), f.MinLen)
		}
		return fieldErr("", ErrLength, "%d characters, want %d..%d", len(s), f.MinLen, f.MaxLen)
	}
	return nil
}

// checkIdent applies the IDENT rule: 1 to MaxIdent characters of A-Z a-z
// 0-9 - _ . with a letter or digit first.
func checkIdent(s string) *FieldError {
	if len(s) == 0 || len(s) > MaxIdent {
		return fieldErr("", ErrIdent, "%d characters, want 1..%d", len(s), MaxIdent)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.':
			if i == 0 {
				return fieldErr("", ErrIdent, "starts with %s", quoteByte(c))
			}
		default:
			return fieldErr("", ErrIdent, "%s at offset %d", quoteByte(c), i)
		}
	}
	return nil
}

// parseTime parses YYYYMMDDTHHMMSSZ strictly: real dates and times only,
// no leap seconds.
func parseTime(s string) (time.Time, *FieldError) {
	if len(s) != len(TimeLayout) {
		return time.Time{}, fieldErr("", ErrTime, "%d characters, want %d (YYYYMMDDTHHMMSSZ)", len(s), len(TimeLayout))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8:
			if c != 'T' {
				return time.Time{}, fieldErr("", ErrTime, "%s at offset 8, want 'T'", quoteByte(c))
			}
		case 15:
			if c != 'Z' {
				return time.Time{}, fieldErr("", ErrTime, "%s at offset 15, want 'Z'", quoteByte(c))
			}
		default:
			if c < '0' || c > '9' {
				return time.Time{}, fieldErr("", ErrTime, "%s at offset %d, want a digit", quoteByte(c), i)
			}
		}
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(4, 2), num(6, 2)
	hour, minute, sec := num(9, 2), num(11, 2), num(13, 2)
	switch {
	case month < 1 || month > 12:
		return time.Time{}, fieldErr("", ErrTime, "month %02d", month)
	case day < 1 || day > daysIn(year, time.Month(month)):
		return time.Time{}, fieldErr("", ErrTime, "day %02d of %04d-%02d", day, year, month)
	case hour > 23:
		return time.Time{}, fieldErr("", ErrTime, "hour %02d", hour)
	case minute > 59:
		return time.Time{}, fieldErr("", ErrTime, "minute %02d", minute)
	case sec > 59:
		return time.Time{}, fieldErr("", ErrTime, "second %02d", sec)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), nil
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// appendTime appends t (already UTC, year 0..9999) as YYYYMMDDTHHMMSSZ.
func appendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	b = appendDigits(b, uint64(year), 4)
	b = appendDigits(b, uint64(month), 2)
	b = appendDigits(b, uint64(day), 2)
	b = append(b, 'T')
	b = appendDigits(b, uint64(hour), 2)
	b = appendDigits(b, uint64(minute), 2)
	b = appendDigits(b, uint64(sec), 2)
	return append(b, 'Z')
}

// checkTime normalises t for a record: UTC, whole seconds, year 0..9999.
func checkTime(t time.Time) (time.Time, *FieldError) {
	t = t.UTC().Truncate(time.Second)
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, fieldErr("", ErrTime, "year %d outside 0000..9999", y)
	}
	return t, nil
}

// appendDigits appends v as exactly width decimal digits (v < 10^width).
func appendDigits(b []byte, v uint64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for range width {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[i:]...)
}

// checkHex reports the first character of s that is not an upper-case hex
// digit.
func checkHex(s string) *FieldError {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'F':
		case c >= 'a' && c <= 'f':
			return fieldErr("", ErrLowerHex, "%s at offset %d", quoteByte(c), i)
		default:
			return fieldErr("", ErrHex, "%s at offset %d", quoteByte(c), i)
		}
	}
	return nil
}

// decodeHex decodes upper-case hex of even length.
func decodeHex(s string) ([]byte, *FieldError) {
	if err := checkHex(s); err != nil {
		return nil, err
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		b[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return b, nil
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// appendHex appends b as upper-case hex.
func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xF])
	}
	return dst
}

func encodeHex(b []byte) string {
	return string(appendHex(make([]byte, 0, 2*len(b)), b))
}

// parsePublicKey decodes 194 hex digits into a point on P-384.
func parsePublicKey(s string) ([]byte, *ecdh.PublicKey, *FieldError) {
	if len(s) != 2*PublicKeySize {
		return nil, nil, fieldErr("", ErrLength, "%d hex digits, want %d", len(s), 2*PublicKeySize)
	}
	b, ferr := decodeHex(s)
	if ferr != nil {
		return nil, nil, ferr
	}
	pub, ferr := checkPoint(b)
	return b, pub, ferr
}

// checkPoint accepts only a 97-byte uncompressed point on P-384.
func checkPoint(b []byte) (*ecdh.PublicKey, *FieldError) {
	if len(b) != PublicKeySize {
		return nil, fieldErr("", ErrLength, "%d bytes, want %d", len(b), PublicKeySize)
	}
	if b[0] != 4 {
		return nil, fieldErr("", ErrPoint, "prefix %02X, want 04 (uncompressed)", b[0])
	}
	pub, err := ecdh.P384().NewPublicKey(b)
	if err != nil {
		return nil, fieldErr("", ErrPoint, "point not on the curve")
	}
	return pub, nil
}

// parseDecimal checks the digits, width and range of a decimal field.
func (f *Field) parseDecimal(s string) (uint64, *FieldError) {
	if len(s) == 0 {
		return 0, fieldErr("", ErrDecimal, "empty")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return 0, fieldErr("", ErrDecimal, "%s at offset %d", quoteByte(c), i)
		}
	}
	if f.Digits > 0 && len(s) != f.Digits {
		return 0, fieldErr("", ErrLength, "%d digits, want %d", len(s), f.Digits)
	}
	if f.Digits == 0 && len(s) > 1 && s[0] == '0' {
		return 0, fieldErr("", ErrDecimal, "leading zero")
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, fieldErr("", ErrRange, "%d digits, above %d", len(s), f.Max)
		}
		v = v*10 + d
	}
	if ferr := f.checkDecimal(v); ferr != nil {
		return 0, ferr
	}
	return v, nil
}

func (f *Field) checkDecimal(v uint64) *FieldError {
	if v < f.Min || v > f.Max {
		return fieldErr("", ErrRange, "%d outside %d..%d", v, f.Min, f.Max)
	}
	if len(f.OneOf) > 0 {
		for _, w := range f.OneOf {
			if v == w {
				return nil
			}
		}
		return fieldErr("", ErrRange, "%d not one of %v", v, f.OneOf)
	}
	return nil
}

// formatDecimal returns the canonical text of v.
func (f *Field) formatDecimal(v uint64) string {
	if f.Digits > 0 {
		return string(appendDigits(nil, v, f.Digits))
	}
	return strconv.FormatUint(v, 10)
}

// checkChoice accepts exactly one of the field's tokens.
func (f *Field) checkChoice(s string) *FieldError {
	for _, c := range f.Choices {
		if s == c {
			return nil
		}
	}
	return fieldErr("", ErrChoice, "%s, want one of %v", quote(s), f.Choices)
}
