package records

import (
	"errors"
	"fmt"

	"github.com/stskms/stskms/internal/typederr"
)

// Errors returned by the record engine. Callers test them with errors.Is and
// read the record type and field with errors.As on a *FieldError or a
// *CRCError. Details never carry more than the record itself prints, and are
// kept short.
var (
	// ErrUnknownType: the record type (or PKID type) is not declared, or is
	// not the type the caller asked for.
	ErrUnknownType = errors.New("records: unknown record type")
	// ErrFieldCount: the record has more or fewer "|"-separated fields than
	// its declaration, or a PKID more or fewer ":"-separated sub-fields
	// than six.
	ErrFieldCount = errors.New("records: wrong field count")
	// ErrIdent: a vendor, id, model or firmware token breaks the IDENT rule
	// (1 to 32 of A-Z a-z 0-9 - _ . starting with a letter or digit).
	ErrIdent = errors.New("records: bad IDENT")
	// ErrTime: not a YYYYMMDDTHHMMSSZ UTC timestamp of a real date and time.
	ErrTime = errors.New("records: bad timestamp")
	// ErrHex: a character that is not a hexadecimal digit.
	ErrHex = errors.New("records: not hex")
	// ErrLowerHex: a lower-case hexadecimal digit; records print upper case
	// only.
	ErrLowerHex = errors.New("records: lower-case hex")
	// ErrLength: a field of the wrong length (hex digits, decimal digits or
	// characters).
	ErrLength = errors.New("records: wrong length")
	// ErrPoint: a public key that is not an uncompressed point on NIST
	// P-384.
	ErrPoint = errors.New("records: not a point on P-384")
	// ErrDecimal: a decimal field with a non-digit or a leading zero.
	ErrDecimal = errors.New("records: bad decimal")
	// ErrRange: a decimal value outside its declared range or set.
	ErrRange = errors.New("records: value out of range")
	// ErrChoice: a choice field holding none of its tokens.
	ErrChoice = errors.New("records: not one of the allowed values")
	// ErrCRC: a printed CRC-16/MODBUS differs from the computed one. The
	// error is a *CRCError.
	ErrCRC = errors.New("records: CRC mismatch")
	// ErrPKIDType: a PKID of the wrong type in a field that needs the other
	// one (an SMID where the KMCID belongs).
	ErrPKIDType = errors.New("records: wrong PKID type")
	// ErrKeyHash: a PKID's key hash does not name the given public key
	// under our convention (KeyHash). Parse never returns it; only the
	// explicit checks PKID.CheckKey and Record.CheckKeyHashes do.
	ErrKeyHash = errors.New("records: key hash does not match the public key")
	// ErrValue: New was given a Go value of a type the field cannot take.
	ErrValue = errors.New("records: value of the wrong type for the field")
	// ErrSpec: an invalid record declaration passed to NewSpec.
	ErrSpec = errors.New("records: invalid record declaration")
)

// FieldError is every failure except a CRC mismatch: which record type,
// which field, which problem. Err is one of the sentinel errors above and
// is what errors.Is matches; Detail says what was wrong, briefly.
type FieldError struct {
	// Record is the record type ("VKLOAD.REQ.1"), the PKID type for a PKID
	// parsed on its own ("KMCID.1"), or empty when the type itself is the
	// problem and is not even well-formed.
	Record string
	// Field is the declared field name ("expiry"); a PKID sub-field is
	// named after its field ("kmcid.vendor"). "type" is the record type
	// and "crc" the record CRC; empty for a wrong field count of a record.
	Field string
	// Err is the sentinel error.
	Err error
	// Detail is a short description of the offending value.
	Detail string
}

// Error returns e.g. `records: PK.ECDH.1 field expiry: bad timestamp:
// month 13`.
func (e *FieldError) Error() string {
	var where string
	if e.Record != "" {
		where = e.Record + " "
	}
	if e.Field != "" {
		where += "field " + e.Field + ": "
	}
	return typederr.Message("records: ", where, e.Err, e.Detail)
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }

// CRCError is a CRC-16/MODBUS mismatch: the CRC printed in the record (or
// PKID) and the one computed over the text before it. It matches ErrCRC
// with errors.Is.
type CRCError struct {
	// Record is the record type, or the PKID type for a PKID parsed on its
	// own.
	Record string
	// Field is "crc" for the record CRC and "<pkid field>.crc" (e.g.
	// "kmcid.crc") for the CRC of a PKID inside a record.
	Field string
	// Printed is the CRC as printed; Computed the CRC of the text.
	Printed, Computed uint16
}

// Error returns e.g. `records: PK.ECDH.1 field crc: CRC mismatch: printed
// D318, computed 87A1`.
func (e *CRCError) Error() string {
	return fmt.Sprintf("records: %s field %s: CRC mismatch: printed %04X, computed %04X",
		e.Record, e.Field, e.Printed, e.Computed)
}

// Is reports whether target is ErrCRC.
func (e *CRCError) Is(target error) bool { return target == ErrCRC }

// quote and quoteByte quote offending input in errors, briefly.
var (
	quote     = typederr.Quote[string]
	quoteByte = typederr.QuoteByte
)
