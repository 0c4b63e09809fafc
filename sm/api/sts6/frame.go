// Package sts6 is the STS6-style API of the software security module
// (notes kms-records.md §4; our layout, documented command by command in
// docs/sm.md "STS6-style API"): the frame codec, and a TCP server whose
// commands call the same sm.Module methods as the HTTP API (package
// sm/api).
//
// A query is "SM?XX" + PTVD fields + CRC-16/ARC as 4 hex digits + CR; a
// reply is "SM!XX" + a 2-character status + fields + CRC + CR. A field is a
// type letter, a value and "~": N decimal, P printable, H even-length hex,
// D CCYYMMDDhhmmss. The CRC covers every byte before it. A frame that does
// not parse is answered "GL!ER" + status; "GL?RR" resends the last reply.
//
// Callers: TLS connections are identified by their client certificate
// (Clients, ServerTLS); plain connections, accepted from loopback only,
// have the role Config.Plain. Every command is checked against the
// caller's role; key installation and loading need a second officer (dual
// control).
package sts6

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// MaxFrame is the longest frame accepted, CR included.
const MaxFrame = 8192

// The PTVD status codes (60–63 in the public code).
const (
	CodeFieldCount    sm.Code = "60"
	CodeFieldType     sm.Code = "61"
	CodeFieldEncoding sm.Code = "62"
	CodeFieldRange    sm.Code = "63"
)

// Field is a PTVD field: its type ('N', 'P', 'H' or 'D') and value as sent.
type Field struct {
	Type  byte
	Value string
}

// Num makes a decimal field (N).
func Num(v uint64) Field { return Field{'N', fmt.Sprint(v)} }

// Print makes a printable-text field (P).
func Print(s string) Field { return Field{'P', s} }

// Hex makes a hexadecimal field (H), in upper case.
func Hex(s string) Field { return Field{'H', strings.ToUpper(s)} }

// Date makes a date field (D), CCYYMMDDhhmmss in UTC.
func Date(t time.Time) Field { return Field{'D', t.UTC().Format("20060102150405")} }

// String is the field as it travels: type, value and the '~' terminator.
func (f Field) String() string { return string(f.Type) + f.Value + "~" }

// Frame is a query (Reply false) or a reply.
type Frame struct {
	// Prefix is "SM", or "GL" for a frame error report.
	Prefix string
	Reply  bool
	// Cmd is the 2-letter command, e.g. "DI".
	Cmd string
	// Status is the 2-character status of a reply.
	Status sm.Code
	Fields []Field
}

// Error is a frame that does not parse, with the status to report.
type Error struct {
	Code   sm.Code
	Detail string
}

// Error is the status code and its detail.
func (e *Error) Error() string { return fmt.Sprintf("sts6: status %s: %s", e.Code, e.Detail) }

func ferr(code sm.Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// CRC16ARC is CRC-16/ARC: polynomial 0x8005 reflected, initial value 0,
// no final XOR (check value of "123456789": 0xBB3D), sts.CRC16Update from 0.
func CRC16ARC(b []byte) uint16 { return sts.CRC16Update(0, b) }

// Append appends the encoded frame to b. It checks the fields as Parse
// does.
func (f Frame) Append(b []byte) ([]byte, error) {
	start := len(b)
	prefix := f.Prefix
	if prefix == "" {
		prefix = "SM"
	}
	if prefix != "SM" && prefix != "GL" {
		return nil, fmt.Errorf("sts6: prefix %q", prefix)
	}
	if !isCmd(f.Cmd) {
		return nil, fmt.Errorf("sts6: command %q is not 2 capital letters", f.Cmd)
	}
	sep := byte('?')
	if f.Reply {
		sep = '!'
	}
	b = append(b, prefix...)
	b = append(b, sep)
	b = append(b, f.Cmd...)
	if f.Reply {
		if !isStatus(string(f.Status)) {
			return nil, fmt.Errorf("sts6: status %q", f.Status)
		}
		b = append(b, f.Status...)
	}
	for _, fl := range f.Fields {
		if err := checkField(fl); err != nil {
			return nil, err
		}
		b = append(b, fl.Type)
		b = append(b, fl.Value...)
		b = append(b, '~')
	}
	b = fmt.Appendf(b, "%04X\r", CRC16ARC(b[start:]))
	return b, nil
}

// Encode returns the encoded frame.
func (f Frame) Encode() ([]byte, error) { return f.Append(nil) }

func isCmd(s string) bool {
	return len(s) == 2 && 'A' <= s[0] && s[0] <= 'Z' && 'A' <= s[1] && s[1] <= 'Z'
}

func isStatus(s string) bool {
	if len(s) != 2 {
		return false
	}
	for i := range 2 {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f'
}

func checkField(f Field) error {
	v := f.Value
	switch f.Type {
	case 'N':
		if v == "" || len(v) > 40 {
			return ferr(CodeFieldEncoding, "N field of %d digits", len(v))
		}
		for i := range len(v) {
			if v[i] < '0' || v[i] > '9' {
				return ferr(CodeFieldEncoding, "N field %q is not decimal", v)
			}
		}
	case 'P':
		for i := range len(v) {
			if v[i] < 0x20 || v[i] > 0x7e || v[i] == '~' {
				return ferr(CodeFieldEncoding, "P field holds byte 0x%02x", v[i])
			}
		}
	case 'H':
		if len(v)%2 != 0 {
			return ferr(CodeFieldEncoding, "H field of odd length")
		}
		for i := range len(v) {
			if !isHexDigit(v[i]) {
				return ferr(CodeFieldEncoding, "H field %q is not hex", v)
			}
		}
	case 'D':
		if len(v) != 14 {
			return ferr(CodeFieldEncoding, "D field %q is not CCYYMMDDhhmmss", v)
		}
		t, err := time.Parse("20060102150405", v)
		if err != nil || t.Format("20060102150405") != v {
			return ferr(CodeFieldRange, "D field %q is not a valid time", v)
		}
	default:
		return ferr(CodeFieldType, "field type %q", f.Type)
	}
	return nil
}

// Parse reads one frame, CR included. A frame that does not parse is an
// *Error with the status to report ("49" for the frame and its CRC, 60–63
// for a field).
func Parse(b []byte) (Frame, error) {
	var f Frame
	if len(b) > MaxFrame {
		return f, ferr(sm.CodeFormat, "frame longer than %d bytes", MaxFrame)
	}
	if len(b) < 5+4+1 || b[len(b)-1] != '\r' {
		return f, ferr(sm.CodeFormat, "short frame or no CR")
	}
	body, crcHex := b[:len(b)-5], string(b[len(b)-5:len(b)-1])
	for i := range 4 {
		if !isHexDigit(crcHex[i]) {
			return f, ferr(sm.CodeFormat, "CRC %q is not 4 hex digits", crcHex)
		}
	}
	if want := fmt.Sprintf("%04X", CRC16ARC(body)); !strings.EqualFold(want, crcHex) {
		return f, ferr(sm.CodeFormat, "CRC %s, computed %s", crcHex, want)
	}
	s := string(body)
	f.Prefix = s[:2]
	if f.Prefix != "SM" && f.Prefix != "GL" || s[2] != '?' && s[2] != '!' {
		return Frame{}, ferr(sm.CodeFormat, "header %q", s[:min(len(s), 5)])
	}
	f.Reply = s[2] == '!'
	f.Cmd = s[3:5]
	if !isCmd(f.Cmd) {
		return Frame{}, ferr(sm.CodeFormat, "command %q", f.Cmd)
	}
	s = s[5:]
	if f.Reply {
		if len(s) < 2 || !isStatus(s[:2]) {
			return Frame{}, ferr(sm.CodeFormat, "reply without a status")
		}
		f.Status, s = sm.Code(s[:2]), s[2:]
	}
	for s != "" {
		end := strings.IndexByte(s, '~')
		if end < 0 {
			return Frame{}, ferr(CodeFieldCount, "field without its ~")
		}
		fl := Field{Type: s[0], Value: s[1:end]}
		if err := checkField(fl); err != nil {
			return Frame{}, err
		}
		f.Fields = append(f.Fields, fl)
		s = s[end+1:]
	}
	if f.Fields == nil {
		f.Fields = []Field{}
	}
	return f, nil
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("sts6: server closed")
