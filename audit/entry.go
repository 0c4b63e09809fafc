package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits on an Entry.
const (
	// MaxField is the longest Actor, Action or Subject, in bytes.
	MaxField = 256
	// MaxDetails is the longest Details, in bytes of its canonical form.
	MaxDetails = 16 << 10
	// MaxDepth is how deep objects and arrays may nest in Details, the
	// object itself being depth 1.
	MaxDepth = 16
)

// maxSafeInt is 2⁵³−1, the largest integer every JSON reader holds exactly.
const maxSafeInt = 1<<53 - 1

// Entry is what a caller logs. It must never hold key material or any
// other secret (see the package doc).
type Entry struct {
	// Actor is who did it: the authenticated role or user ("officer:alice",
	// "vending:node-3"), or "system" for the software itself. Required.
	Actor string
	// Action is what was done, as a dotted name: "token.issue",
	// "klf.load", "slot.install", "sm.register". Required.
	Action string
	// Subject is what it was done to: an SMID, a meter PAN, a supply
	// group. May be empty.
	Subject string
	// Details is a small JSON object: a struct, a map or a json.RawMessage
	// that encodes to one (nil stands for {}). Any other JSON value is
	// refused. In a Record it is a json.RawMessage in canonical form.
	Details any
}

// ErrBadEntry is matched by the *EntryError of an entry the log refuses.
var ErrBadEntry = errors.New("audit: bad entry")

// EntryError reports an Entry that breaks the rules of the package doc.
// errors.Is(err, ErrBadEntry) holds for it. It never quotes the entry's
// values.
type EntryError struct {
	Field  string // "Actor", "Action", "Subject" or "Details"
	Reason string
}

// Error names the field and what is wrong with it.
func (e *EntryError) Error() string {
	return fmt.Sprintf("audit: bad entry: %s %s", e.Field, e.Reason)
}

// Unwrap returns ErrBadEntry.
func (e *EntryError) Unwrap() error { return ErrBadEntry }

// prepared is a checked Entry with its Details in canonical form.
type prepared struct {
	actor, action, subject string
	details                []byte
}

func (p prepared) entry() Entry {
	return Entry{Actor: p.actor, Action: p.action, Subject: p.subject, Details: json.RawMessage(p.details)}
}

// prepare checks e and puts its Details in canonical form.
func (e Entry) prepare() (prepared, error) {
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"Actor", e.Actor, true}, {"Action", e.Action, true}, {"Subject", e.Subject, false}} {
		if err := checkField(f.name, f.v, f.required); err != nil {
			return prepared{}, err
		}
	}
	d, err := canonicalDetails(e.Details)
	if err != nil {
		return prepared{}, err
	}
	return prepared{actor: e.Actor, action: e.Action, subject: e.Subject, details: d}, nil
}

func checkField(name, v string, required bool) error {
	switch {
	case required && v == "":
		return &EntryError{Field: name, Reason: "is empty"}
	case len(v) > MaxField:
		return &EntryError{Field: name, Reason: fmt.Sprintf("is %d bytes long, more than %d", len(v), MaxField)}
	case !utf8.ValidString(v):
		return &EntryError{Field: name, Reason: "is not valid UTF-8"}
	case strings.ContainsFunc(v, unicode.IsControl):
		return &EntryError{Field: name, Reason: "contains a control character"}
	}
	return nil
}

// canonicalDetails returns the canonical form of details (see the package
// doc), or an *EntryError.
func canonicalDetails(details any) ([]byte, error) {
	var raw []byte
	switch d := details.(type) {
	case nil:
		return []byte("{}"), nil
	case json.RawMessage:
		raw = d
	default:
		var err error
		if raw, err = json.Marshal(details); err != nil {
			return nil, &EntryError{Field: "Details", Reason: "cannot be encoded as JSON: " + err.Error()}
		}
	}
	if len(raw) > 4*MaxDetails {
		return nil, &EntryError{Field: "Details", Reason: fmt.Sprintf("is longer than %d bytes", MaxDetails)}
	}
	if !utf8.Valid(raw) {
		return nil, &EntryError{Field: "Details", Reason: "is not valid UTF-8"}
	}
	c := canon{dec: json.NewDecoder(bytes.NewReader(raw))}
	c.dec.UseNumber()
	tok, err := c.dec.Token()
	if err != nil {
		return nil, c.syntax(err)
	}
	if tok != json.Delim('{') {
		return nil, &EntryError{Field: "Details", Reason: "is not a JSON object"}
	}
	var out bytes.Buffer
	if err := c.object(&out, 1); err != nil {
		return nil, err
	}
	if _, err := c.dec.Token(); err != io.EOF {
		return nil, &EntryError{Field: "Details", Reason: "has data after its object"}
	}
	if out.Len() > MaxDetails {
		return nil, &EntryError{Field: "Details", Reason: fmt.Sprintf("is %d bytes long in canonical form, more than %d", out.Len(), MaxDetails)}
	}
	return out.Bytes(), nil
}

// canon writes the RFC 8785 form of the JSON its decoder reads.
type canon struct {
	dec *json.Decoder
}

func (c *canon) syntax(err error) error {
	if err == io.EOF {
		return &EntryError{Field: "Details", Reason: "is empty"}
	}
	return &EntryError{Field: "Details", Reason: "is not valid JSON: " + err.Error()}
}

// value writes the value that starts with tok.
func (c *canon) value(out *bytes.Buffer, tok json.Token, depth int) error {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return c.object(out, depth+1)
		case '[':
			return c.array(out, depth+1)
		}
		return &EntryError{Field: "Details", Reason: "is not valid JSON"}
	case string:
		writeString(out, t)
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > maxSafeInt {
			return &EntryError{Field: "Details", Reason: "holds a number that is not an integer in ±(2^53-1)"}
		}
		out.WriteString(strconv.FormatInt(int64(f), 10))
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	default:
		return &EntryError{Field: "Details", Reason: "is not valid JSON"}
	}
	return nil
}

// object writes an object whose '{' has been read.
func (c *canon) object(out *bytes.Buffer, depth int) error {
	if depth > MaxDepth {
		return &EntryError{Field: "Details", Reason: fmt.Sprintf("nests deeper than %d", MaxDepth)}
	}
	type member struct {
		key   string
		order []uint16 // key in UTF-16, the order of RFC 8785
		value []byte
	}
	var ms []member
	seen := map[string]bool{}
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return c.syntax(err)
		}
		if tok == json.Delim('}') {
			break
		}
		key, ok := tok.(string)
		if !ok {
			return &EntryError{Field: "Details", Reason: "is not valid JSON"}
		}
		if seen[key] {
			return &EntryError{Field: "Details", Reason: "has a duplicate member name"}
		}
		seen[key] = true
		if tok, err = c.dec.Token(); err != nil {
			return c.syntax(err)
		}
		var v bytes.Buffer
		if err := c.value(&v, tok, depth); err != nil {
			return err
		}
		ms = append(ms, member{key: key, order: utf16.Encode([]rune(key)), value: v.Bytes()})
	}
	slices.SortFunc(ms, func(a, b member) int { return slices.Compare(a.order, b.order) })
	out.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			out.WriteByte(',')
		}
		writeString(out, m.key)
		out.WriteByte(':')
		out.Write(m.value)
	}
	out.WriteByte('}')
	return nil
}

// array writes an array whose '[' has been read.
func (c *canon) array(out *bytes.Buffer, depth int) error {
	if depth > MaxDepth {
		return &EntryError{Field: "Details", Reason: fmt.Sprintf("nests deeper than %d", MaxDepth)}
	}
	out.WriteByte('[')
	for i := 0; ; i++ {
		tok, err := c.dec.Token()
		if err != nil {
			return c.syntax(err)
		}
		if tok == json.Delim(']') {
			break
		}
		if i > 0 {
			out.WriteByte(',')
		}
		if err := c.value(out, tok, depth); err != nil {
			return err
		}
	}
	out.WriteByte(']')
	return nil
}

// writeString writes s as a JSON string the way RFC 8785 (ECMAScript's
// JSON.stringify) does.
func writeString(out *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			out.WriteByte('\\')
			out.WriteByte(c)
		case c == '\b':
			out.WriteString(`\b`)
		case c == '\t':
			out.WriteString(`\t`)
		case c == '\n':
			out.WriteString(`\n`)
		case c == '\f':
			out.WriteString(`\f`)
		case c == '\r':
			out.WriteString(`\r`)
		case c < 0x20:
			out.WriteString(`\u00`)
			out.WriteByte(hex[c>>4])
			out.WriteByte(hex[c&0xf])
		default:
			out.WriteByte(c)
		}
	}
	out.WriteByte('"')
}
