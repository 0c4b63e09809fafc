package main

import (
	"fmt"
	"strings"

	"github.com/stskms/stskms/internal/tokenjson"
	"github.com/stskms/stskms/sts"
)

// field is one named value of a decoded token.
type field struct {
	name  string
	value any
}

// fields is an ordered list of fields; it prints as a JSON object in order.
type fields []field

// MarshalJSON prints the fields as one JSON object, in their order
// (tokenjson.Fields).
func (fs fields) MarshalJSON() ([]byte, error) {
	out := make(tokenjson.Fields, len(fs))
	for i, f := range fs {
		out[i] = tokenjson.Field{Name: f.name, Value: f.value}
	}
	return out.MarshalJSON()
}

// text renders the fields as "name=value" pairs on one line.
func (fs fields) text() string {
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		if f.value == nil {
			continue
		}
		v := fmt.Sprint(f.value)
		if s, ok := f.value.(string); ok && strings.ContainsRune(s, ' ') {
			v = fmt.Sprintf("%q", s)
		}
		parts = append(parts, f.name+"="+v)
	}
	return strings.Join(parts, " ")
}

// describe lists the class, subclass, CRC verdict and every field of an
// opened token. The error is the token's verdict: nil, sts.ErrCRC, or why
// its fields do not parse.
func describe(b sts.Block) (fields, error) {
	fs := fields{{"class", uint8(b.Class)}, {"subclass", uint8(b.Subclass())}}
	if name, err := sts.SubclassName(b.Class, b.Subclass()); err == nil {
		fs = append(fs, field{"name", name})
	}
	crcOK := b.CRCValid()
	tok, err := b.Token()
	fs = append(fs, tokenFields(tok)...)
	fs = append(fs, field{"crc_ok", crcOK})
	if !crcOK {
		err = sts.ErrCRC // takes precedence: the fields of a wrong-key block are noise
	}
	if err != nil {
		fs = append(fs, field{"error", err.Error()})
	}
	return fs, err
}

// tokenFields lists the token's fields in the one vocabulary of a
// decoded token (internal/tokenjson), always with tid and rnd.
func tokenFields(tok sts.Token) fields {
	var fs fields
	for _, f := range tokenjson.Of(tok) {
		fs = append(fs, field{f.Name, f.Value})
	}
	return fs
}
