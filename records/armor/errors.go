package armor

import (
	"errors"
	"strconv"

	"github.com/stskms/stskms/internal/typederr"
)

// Errors of this package. Every error Wrap, File, Find and ParseFile return
// is an *Error, or an errors.Join of them, wrapping one of these; callers
// test them with errors.Is and read the line and type with errors.As.
var (
	// ErrUnterminated: a BEGINS marker without an ENDS before the end of
	// the text.
	ErrUnterminated = errors.New("armor: block without ENDS")
	// ErrNested: a BEGINS marker inside a block. The outer block is
	// dropped; the inner one is read on.
	ErrNested = errors.New("armor: BEGINS inside a block")
	// ErrTypeMismatch: the ENDS marker, or the first field of the body,
	// names another record type than the BEGINS marker.
	ErrTypeMismatch = errors.New("armor: record type mismatch")
	// ErrStrayEnd: an ENDS marker outside a block.
	ErrStrayEnd = errors.New("armor: ENDS without BEGINS")
	// ErrBadType: a marker, or a body given to Wrap or File, whose record
	// type is not NAME *("." NAME) "." DIGITS with NAME upper-case letters
	// and digits.
	ErrBadType = errors.New("armor: bad record type")
	// ErrBadCharacter: a control character, a byte outside ASCII or a ">"
	// inside a record body.
	ErrBadCharacter = errors.New("armor: character not allowed in a record")
	// ErrWhitespace: a space or tab inside a record field (not next to a
	// "|" and not at the end of a line).
	ErrWhitespace = errors.New("armor: whitespace inside a field")
	// ErrEmpty: a block or body without any record text.
	ErrEmpty = errors.New("armor: empty record")
	// ErrTooLong: a record body longer than MaxBodyLen bytes.
	ErrTooLong = errors.New("armor: record too long")
	// ErrNotRecord: a body without a "|" field separator.
	ErrNotRecord = errors.New(`armor: not a record (no "|")`)
	// ErrStrayText: in a file-of-records, a line outside the blocks that
	// is not blank.
	ErrStrayText = errors.New("armor: text outside record blocks")
	// ErrNoRecords: a file-of-records without any block, or File called
	// without bodies.
	ErrNoRecords = errors.New("armor: no records")
	// ErrTooManyErrors: more than MaxErrors faults; the rest are counted,
	// not reported.
	ErrTooManyErrors = errors.New("armor: too many errors")
)

// Error is one fault: which block, where, and which sentinel error. It
// matches its sentinel with errors.Is.
type Error struct {
	// Line is the 1-based input line of the faulty block's BEGINS marker;
	// for ErrStrayEnd the ENDS line, for ErrStrayText the first line of
	// the stray text, for ErrTooManyErrors the line of the first fault
	// not reported. It is 0 for errors of Wrap and File and for
	// ErrNoRecords.
	Line int
	// At is the line where the fault was found: the line of the offending
	// character, the inner BEGINS (ErrNested), the ENDS (ErrEmpty and an
	// ENDS of another type), the first body line (a body of another type,
	// ErrNotRecord), the line that crossed MaxBodyLen, or the last line of
	// the text (ErrUnterminated). It equals Line for faults of the marker
	// itself, and is 0 when Line is.
	At int
	// Type is the record type named by the block's BEGINS marker (the ENDS
	// marker for ErrStrayEnd, the body for Wrap and File), or empty when
	// that is not a well-formed record type.
	Type string
	// Err is the sentinel error.
	Err error
	// Detail says briefly what was wrong (a column and byte, the other
	// type); it quotes at most a few bytes of the input.
	Detail string
}

// Error returns e.g. `armor: line 3: STS:VKLOAD.REQ.1 block: whitespace
// inside a field: line 5 column 17`.
func (e *Error) Error() string {
	var where string
	if e.Line > 0 {
		where = "line " + strconv.Itoa(e.Line) + ": "
	}
	if e.Type != "" {
		where += "STS:" + e.Type + " block: "
	}
	return typederr.Message("armor: ", where, e.Err, e.Detail)
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

// Faults splits an error of Wrap, File, Find or ParseFile into its faults,
// in order: the errors its errors.Join holds (each an *Error), or err
// itself when it is a single fault; nil for nil.
func Faults(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// quote quotes offending input in errors, briefly.
var quote = typederr.Quote[[]byte]

// describeByte names one offending byte: a space or tab by name, anything
// else as typederr.QuoteByte does.
func describeByte(c byte) string {
	switch c {
	case ' ':
		return "space"
	case '\t':
		return "tab"
	}
	return typederr.QuoteByte(c)
}
