package armor

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

const (
	// LineLen is the length of every body line Wrap writes but the last.
	LineLen = 64
	// MaxBodyLen is the largest record body, in bytes, that Wrap writes
	// and Find accepts: far above any record of kms-records.md §3 (a few
	// hundred bytes), small enough to bound what one block can cost.
	MaxBodyLen = 64 << 10
	// MaxErrors is the most faults Find and ParseFile report one by one.
	// Further faults are counted in one last ErrTooManyErrors.
	MaxErrors = 100
)

// Block is one record found in a text.
type Block struct {
	// Type is the record type, e.g. "VKLOAD.REQ.1": the body's first
	// field, equal to the type both markers name.
	Type string
	// Body is the record unwrapped to one line, without line ends.
	Body string
	// Line is the 1-based input line of the BEGINS marker.
	Line int
}

const (
	beginsWord = "BEGINS"
	endsWord   = "ENDS"
	markerHead = "STS:"
)

// Wrap returns the Record-in-Email text of a one-line record body: the
// BEGINS marker, the body in lines of LineLen characters (the last one
// shorter) and the ENDS marker, every line ending in CRLF. The record type
// is the body's first "|"-separated field. It fails with an *Error wrapping
// ErrEmpty, ErrTooLong, ErrWhitespace, ErrBadCharacter, ErrNotRecord or
// ErrBadType when body is not a record body as the package doc defines it.
func Wrap(body string) ([]byte, error) {
	typ, err := checkBody(body)
	if err != nil {
		return nil, err
	}
	return appendBlock(make([]byte, 0, blockSize(body, typ)), body, typ), nil
}

// checkBody returns the record type of body, or the reason body cannot be
// wrapped. Everything Find returns passes it.
func checkBody(body string) (string, *Error) {
	if body == "" {
		return "", &Error{Err: ErrEmpty}
	}
	if len(body) > MaxBodyLen {
		return "", &Error{Type: bodyType(body), Err: ErrTooLong, Detail: fmt.Sprintf("%d bytes, limit %d", len(body), MaxBodyLen)}
	}
	sep := -1
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '|' && sep < 0 {
			sep = i
		}
		if !bodyByte(c) {
			err := ErrBadCharacter
			if isBlank(c) {
				err = ErrWhitespace
			}
			return "", &Error{Type: bodyType(body), Err: err, Detail: fmt.Sprintf("offset %d: %s", i, describeByte(c))}
		}
	}
	if sep < 0 {
		return "", &Error{Err: ErrNotRecord}
	}
	typ := body[:sep]
	if !validType(typ) {
		return "", &Error{Err: ErrBadType, Detail: quote([]byte(typ))}
	}
	return typ, nil
}

// bodyType returns the first field of body if it is a well-formed record
// type, else "".
func bodyType(body string) string {
	typ, _, ok := strings.Cut(body, "|")
	if !ok || !validType(typ) {
		return ""
	}
	return typ
}

// blockSize is the length of the block appendBlock writes.
func blockSize(body, typ string) int {
	lines := (len(body) + LineLen - 1) / LineLen
	return 2*(len(markerHead)+len(typ)+3) + len(beginsWord) + len(endsWord) + len(body) + 2*lines
}

// appendBlock appends the block of a checked body to dst.
func appendBlock(dst []byte, body, typ string) []byte {
	dst = append(dst, markerHead...)
	dst = append(dst, typ...)
	dst = append(dst, " "+beginsWord+"\r\n"...)
	for len(body) > LineLen {
		dst = append(dst, body[:LineLen]...)
		dst = append(dst, '\r', '\n')
		body = body[LineLen:]
	}
	dst = append(dst, body...)
	dst = append(dst, '\r', '\n')
	dst = append(dst, markerHead...)
	dst = append(dst, typ...)
	dst = append(dst, " "+endsWord+"\r\n"...)
	return dst
}

// Find returns every well-formed block of a mail body, in order, with the
// tolerance the package doc describes. If some blocks are faulty, or an
// ENDS marker stands outside a block, it also returns the errors.Join of one
// *Error per fault (at most MaxErrors, then one ErrTooManyErrors); the
// blocks it returns are sound all the same. The Body and Type strings of
// all blocks share one allocation.
func Find(text []byte) ([]Block, error) {
	var p parser
	p.run(text)
	return p.result()
}

// span is a well-formed block found by the parser. Bodies lie back to back
// in the arena: this one runs from the end of the previous one (or 0) to
// end.
type span struct {
	end, line int
}

// parser is the line scanner behind Find and ParseFile. It keeps no copy of
// the input: lines are sub-slices of it. The body of the current block is
// gathered in scratch, and moved to arena once the block proves sound.
//
// Memory: scratch never exceeds MaxBodyLen, arena holds only bodies of
// well-formed blocks (each at least 33 input bytes with its markers), and
// faults beyond MaxErrors are counted without being built. Scratch, spans
// and arena grow by doubling, not by the quarter append adds to large
// slices, which keeps the sum of all their allocations to a few times the
// final size.
type parser struct {
	file    bool // ParseFile rules: no quote marks, only blank lines outside blocks
	scratch []byte
	arena   strings.Builder
	spans   []span
	errs    []error
	// dropped counts faults beyond MaxErrors; droppedLine is the first.
	dropped, droppedLine int

	// The block being read.
	in     bool
	begin  int    // line of its BEGINS
	typ    []byte // type named by BEGINS (a sub-slice of the input)
	typeOK bool
	first  int   // line of its first body text, 0 before
	fault  error // its first fault (sentinel), nil if none yet
	// Where the fault is: line, and column and byte for a bad character
	// or whitespace.
	faultAt, faultCol int
	faultByte         byte

	stray bool // file mode: the previous line was stray text
	left  int  // bytes of input from the current line on
}

// run scans text line by line. CRLF, LF and a lone CR end a line.
func (p *parser) run(text []byte) {
	n := 0
	for pos := 0; pos < len(text); {
		end := pos
		for end < len(text) && text[end] != '\n' && text[end] != '\r' {
			end++
		}
		next := end
		if end < len(text) {
			next++
			if text[end] == '\r' && next < len(text) && text[next] == '\n' {
				next++
			}
		}
		n++
		p.left = len(text) - pos
		p.line(text[pos:end], n)
		pos = next
	}
	if p.in {
		p.in = false
		if p.room(p.begin) {
			p.errs = append(p.errs, &Error{Line: p.begin, At: n, Type: p.typeName(), Err: ErrUnterminated})
		}
	}
}

// Marker kinds.
const (
	notMarker = iota
	begins
	ends
)

// line handles input line n (without its line end).
func (p *parser) line(raw []byte, n int) {
	l, off := clean(raw, !p.file)
	kind, typ := marker(l)
	if !p.in {
		switch kind {
		case begins:
			p.open(typ, n)
		case ends:
			if p.room(n) {
				p.errs = append(p.errs, strayEnd(typ, n))
			}
		default:
			if p.file && len(l) > 0 && !p.stray && p.room(n) {
				p.errs = append(p.errs, &Error{Line: n, At: n, Err: ErrStrayText, Detail: quote(l)})
			}
		}
		p.stray = kind == notMarker && len(l) > 0
		return
	}
	switch kind {
	case begins:
		if p.room(p.begin) {
			p.errs = append(p.errs, &Error{Line: p.begin, At: n, Type: p.typeName(), Err: ErrNested,
				Detail: fmt.Sprintf("BEGINS at line %d before ENDS", n)})
		}
		p.open(typ, n)
	case ends:
		p.close(typ, n)
	default:
		p.add(l, off, n)
	}
}

// open starts a block at line n.
func (p *parser) open(typ []byte, n int) {
	if p.scratch == nil {
		// One allocation suffices for a record or two in a short mail.
		p.scratch = make([]byte, 0, min(p.left, 1024))
	}
	p.scratch = p.scratch[:0]
	p.in = true
	p.begin = n
	p.typ = typ
	p.typeOK = validType(typ)
	p.first = 0
	p.fault = nil
	p.stray = false
}

// add appends the cleaned body line l of input line n, in which l starts at
// byte off, to the block. After the first fault the block is only scanned
// for its end.
func (p *parser) add(l []byte, off, n int) {
	if p.fault != nil || len(l) == 0 {
		return
	}
	if p.first == 0 {
		p.first = n
	}
	seg := 0
	for i := 0; i < len(l); {
		c := l[i]
		switch {
		case isBlank(c):
			j := i + 1
			for j < len(l) && isBlank(l[j]) {
				j++
			}
			// l is trimmed, so 0 < i and j < len(l).
			if l[i-1] != '|' && l[j] != '|' {
				p.setFault(ErrWhitespace, n, off+i+1, c)
				return
			}
			if !p.append(l[seg:i], n) {
				return
			}
			seg, i = j, j
		case !bodyByte(c):
			p.setFault(ErrBadCharacter, n, off+i+1, c)
			return
		default:
			i++
		}
	}
	p.append(l[seg:], n)
}

// append adds b to the body, or records ErrTooLong.
func (p *parser) append(b []byte, n int) bool {
	if len(p.scratch)+len(b) > MaxBodyLen {
		p.setFault(ErrTooLong, n, 0, 0)
		return false
	}
	p.scratch = grow(p.scratch, len(b))
	p.scratch = append(p.scratch, b...)
	return true
}

// setFault records the first fault of the block.
func (p *parser) setFault(err error, at, col int, c byte) {
	p.fault, p.faultAt, p.faultCol, p.faultByte = err, at, col, c
}

// close ends the block at the ENDS marker of line n, naming typ.
func (p *parser) close(typ []byte, n int) {
	p.in = false
	body := p.scratch
	sep := bytes.IndexByte(body, '|')
	switch {
	case !p.typeOK:
		if p.room(p.begin) {
			p.errs = append(p.errs, &Error{Line: p.begin, At: p.begin, Err: ErrBadType, Detail: quote(p.typ)})
		}
	case !bytes.Equal(typ, p.typ):
		p.blockFault(ErrTypeMismatch, n, func() string { return fmt.Sprintf("ENDS at line %d names %s", n, quote(typ)) })
	case p.fault == ErrTooLong:
		p.blockFault(p.fault, p.faultAt, func() string { return fmt.Sprintf("over %d bytes at line %d", MaxBodyLen, p.faultAt) })
	case p.fault != nil:
		p.blockFault(p.fault, p.faultAt, func() string {
			return fmt.Sprintf("line %d column %d: %s", p.faultAt, p.faultCol, describeByte(p.faultByte))
		})
	case len(body) == 0:
		p.blockFault(ErrEmpty, n, nil)
	case sep < 0:
		p.blockFault(ErrNotRecord, p.first, nil)
	case !bytes.Equal(body[:sep], p.typ):
		p.blockFault(ErrTypeMismatch, p.first, func() string {
			return fmt.Sprintf("body at line %d is of type %s", p.first, quote(body[:sep]))
		})
	default:
		p.arena.Grow(len(body)) // if it must grow: to twice the capacity plus len(body)
		p.arena.Write(body)
		p.spans = grow(p.spans, 1)
		p.spans = append(p.spans, span{end: p.arena.Len(), line: p.begin})
	}
}

// blockFault reports a fault of the current block found at line at. The
// detail, if any, is only written when the fault is reported.
func (p *parser) blockFault(err error, at int, detail func() string) {
	if !p.room(p.begin) {
		return
	}
	e := &Error{Line: p.begin, At: at, Type: p.typeName(), Err: err}
	if detail != nil {
		e.Detail = detail()
	}
	p.errs = append(p.errs, e)
}

// typeName is the type of the current block for an *Error: empty unless it
// is a well-formed record type.
func (p *parser) typeName() string {
	if !p.typeOK {
		return ""
	}
	return string(p.typ)
}

// strayEnd is the error of an ENDS marker outside a block.
func strayEnd(typ []byte, n int) *Error {
	e := &Error{Line: n, At: n, Err: ErrStrayEnd}
	if validType(typ) {
		e.Type = string(typ)
	} else {
		e.Detail = "type " + quote(typ)
	}
	return e
}

// room reports whether one more fault, of the block or marker at line, may
// be reported. Beyond MaxErrors it counts the fault and reports false, so
// that the fault is never built.
func (p *parser) room(line int) bool {
	if len(p.errs) < MaxErrors {
		return true
	}
	if p.dropped == 0 {
		p.droppedLine = line
	}
	p.dropped++
	return false
}

// result returns the blocks found and the joined faults.
func (p *parser) result() ([]Block, error) {
	var blocks []Block
	if len(p.spans) > 0 {
		all := p.arena.String()
		blocks = make([]Block, len(p.spans))
		start := 0
		for i, s := range p.spans {
			body := all[start:s.end]
			blocks[i] = Block{Type: body[:strings.IndexByte(body, '|')], Body: body, Line: s.line}
			start = s.end
		}
	}
	if p.dropped > 0 {
		p.errs = append(p.errs, &Error{Line: p.droppedLine, At: p.droppedLine, Err: ErrTooManyErrors,
			Detail: fmt.Sprintf("%d more not reported", p.dropped)})
	}
	return blocks, errors.Join(p.errs...)
}

// grow returns s with room for n more elements. Unlike append, which
// grows large slices by a quarter (costing up to five times the final size
// in all), it doubles the capacity.
func grow[S ~[]E, E any](s S, n int) S {
	if cap(s)-len(s) >= n {
		return s
	}
	t := make(S, len(s), max(2*cap(s), len(s)+n, 8))
	copy(t, s)
	return t
}

// clean removes leading and trailing spaces and tabs from a line and, when
// quotes is set, any number of ">" quote marks with the spaces and tabs
// around them. It returns the rest and its offset in raw.
func clean(raw []byte, quotes bool) ([]byte, int) {
	i := 0
	for {
		for i < len(raw) && isBlank(raw[i]) {
			i++
		}
		if quotes && i < len(raw) && raw[i] == '>' {
			i++
			continue
		}
		break
	}
	j := len(raw)
	for j > i && isBlank(raw[j-1]) {
		j--
	}
	return raw[i:j], i
}

// marker reports whether the cleaned line l is a BEGINS or ENDS marker and
// returns the type it names (possibly malformed, even empty).
func marker(l []byte) (int, []byte) {
	if !bytes.HasPrefix(l, []byte(markerHead)) {
		return notMarker, nil
	}
	kind, word := begins, beginsWord
	if !bytes.HasSuffix(l, []byte(word)) {
		kind, word = ends, endsWord
		if !bytes.HasSuffix(l, []byte(word)) {
			return notMarker, nil
		}
	}
	sp := len(l) - len(word) - 1
	if sp < len(markerHead) || !isBlank(l[sp]) {
		return notMarker, nil
	}
	typ := l[len(markerHead):sp]
	for len(typ) > 0 && isBlank(typ[len(typ)-1]) {
		typ = typ[:len(typ)-1]
	}
	return kind, typ
}

// validType reports whether t is NAME *("." NAME) "." DIGITS, NAME being
// one or more upper-case letters and digits.
func validType[T string | []byte](t T) bool {
	parts, digits, partLen := 1, true, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '.':
			if partLen == 0 {
				return false
			}
			parts, digits, partLen = parts+1, true, 0
		case c >= '0' && c <= '9':
			partLen++
		case c >= 'A' && c <= 'Z':
			partLen++
			digits = false
		default:
			return false
		}
	}
	return parts >= 2 && partLen > 0 && digits
}

// isBlank reports whether c is a space or a horizontal tab.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// bodyByte reports whether c may appear in a record body: printable ASCII
// other than space and ">".
func bodyByte(c byte) bool { return c > ' ' && c < 0x7F && c != '>' }
