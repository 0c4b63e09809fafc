package armor

import (
	"fmt"
	"strings"
	"time"
)

// File returns a file-of-records holding the given one-line record bodies
// in order: the block of each, as Wrap writes it, with an empty line (CRLF)
// between blocks. It fails with ErrNoRecords without bodies, and with the
// error Wrap gives for the first body that is not a record (its Detail
// names the body by its 1-based position).
func File(bodies ...string) ([]byte, error) {
	if len(bodies) == 0 {
		return nil, &Error{Err: ErrNoRecords}
	}
	types := make([]string, len(bodies))
	size := 2 * (len(bodies) - 1)
	for i, body := range bodies {
		typ, err := checkBody(body)
		if err != nil {
			if err.Detail != "" {
				err.Detail = fmt.Sprintf("record %d: %s", i+1, err.Detail)
			} else {
				err.Detail = fmt.Sprintf("record %d", i+1)
			}
			return nil, err
		}
		types[i] = typ
		size += blockSize(body, typ)
	}
	out := make([]byte, 0, size)
	for i, body := range bodies {
		if i > 0 {
			out = append(out, '\r', '\n')
		}
		out = appendBlock(out, body, types[i])
	}
	return out, nil
}

// ParseFile returns the records of a file-of-records, in order. It applies
// the rules of Find with two differences: a ">" is never taken for a quote
// mark, and outside the blocks only blank lines (empty, or spaces and tabs)
// may stand. Any fault makes it return no blocks and the errors.Join of one
// *Error per fault: ErrStrayText for each run of stray lines, and any error
// of Find. A file without blocks is ErrNoRecords.
func ParseFile(data []byte) ([]Block, error) {
	p := parser{file: true}
	p.run(data)
	blocks, err := p.result()
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		return nil, &Error{Err: ErrNoRecords}
	}
	return blocks, nil
}

// FileName returns the attachment name of a file-of-records,
// "<id>_<yyyymmddThhmmssZ>.<ext>", with t in UTC: FileName("94000001", t,
// "klf") gives e.g. "94000001_20250103T121500Z.klf". id is meant to be an
// IDENT (the id of an SMID); any byte of id or ext other than A-Z, a-z,
// 0-9, "-", "_" and "." becomes "_", so the name is always a plain file
// name. A leading "." of ext is dropped; an empty ext gives no extension.
func FileName(id string, t time.Time, ext string) string {
	ext = strings.TrimPrefix(ext, ".")
	var b strings.Builder
	b.Grow(len(id) + len("_20060102T150405Z.") + len(ext))
	writeSafe(&b, id)
	b.WriteByte('_')
	b.WriteString(t.UTC().Format("20060102T150405Z"))
	if ext != "" {
		b.WriteByte('.')
		writeSafe(&b, ext)
	}
	return b.String()
}

// writeSafe writes s with every byte outside A-Z a-z 0-9 - _ . replaced by
// "_".
func writeSafe(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
}
