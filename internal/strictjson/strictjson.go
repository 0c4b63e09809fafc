// Package strictjson decodes JSON strictly: exactly one value, no member
// given twice (at any depth), no member a struct does not have, no member
// named other than exactly as the struct's json tag says (encoding/json
// matches names without case), and nothing after the value. Every refusal
// is an *Error naming the member.
//
// Unmarshal first walks the input against the target's type (found with
// reflect, as encoding/json finds it), then decodes it with encoding/json
// (DisallowUnknownFields). Valid JSON is walked in place, without
// allocating per member (fast.go); anything else goes through
// json.Decoder.Token, which says where it breaks. Inside a value whose type
// decodes itself (json.Unmarshaler, json.RawMessage, an interface), only
// duplicate members are refused.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// MaxDepth is the deepest nesting of arrays and objects accepted.
const MaxDepth = 256

// Error is a refusal of the input: Member is the path of the member at
// fault ("meter.pan", "[3].amount"; empty for the value as a whole).
type Error struct {
	Member string
	Reason string
}

func (e *Error) Error() string {
	if e.Member == "" {
		return e.Reason
	}
	return fmt.Sprintf("member %q: %s", e.Member, e.Reason)
}

// Unmarshal decodes data, exactly one JSON value, into v (a non-nil
// pointer), strictly (see the package doc). A type error of encoding/json
// is returned as an *Error naming the member too. On an error, v may be
// partly filled: do not use it.
//
// encoding/json decodes first (DisallowUnknownFields): its pass checks the
// syntax, so that the walk after it (fast.go) may count on valid JSON; a
// refusal of either is named by the walk of the tokens (Check).
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("strictjson: Unmarshal needs a non-nil pointer")
	}
	t := rv.Type().Elem()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if cerr := checkTokens(data, t); cerr != nil {
			return cerr
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &Error{Member: memberPath(t, te.Field), Reason: fmt.Sprintf("a JSON %s cannot be %s", te.Value, kindName(te.Type))}
		}
		return &Error{Reason: err.Error()}
	}
	end := dec.InputOffset()
	if len(bytes.TrimLeft(data[end:], " \t\r\n")) > 0 {
		return &Error{Reason: "data after the JSON value"}
	}
	w := walker{d: data[:end]}
	return w.value(t, 0)
}

// memberPath is field, a path of encoding/json's type error, without the
// names of embedded structs (which are not members of the JSON).
func memberPath(t reflect.Type, field string) string {
	var out []string
	for _, seg := range strings.Split(field, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out, t = append(out, seg), nil
			continue
		}
		if f, ok := fieldsOf(t)[seg]; ok {
			out, t = append(out, seg), f.typ
		}
	}
	return strings.Join(out, ".")
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "this"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return "an unsigned integer of " + strconv.Itoa(t.Bits()) + " bits"
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return "an integer of " + strconv.Itoa(t.Bits()) + " bits"
	}
	return t.String()
}

// Check scans data, exactly one JSON value, against the type t it is to be
// decoded into, without decoding it (see the package doc). A nil t checks
// only the syntax, duplicate members and trailing data.
func Check(data []byte, t reflect.Type) error {
	if json.Valid(data) {
		w := walker{d: data}
		return w.value(t, 0)
	}
	// Not one valid JSON value: the token scanner says where and why.
	if err := checkTokens(data, t); err != nil {
		return err
	}
	return &Error{Reason: "malformed JSON"}
}

// checkTokens is Check with json.Decoder.Token: slower, but it finds
// syntax errors and data after the value, and names them.
func checkTokens(data []byte, t reflect.Type) error {
	s := scanner{dec: json.NewDecoder(bytes.NewReader(data))}
	s.dec.UseNumber()
	tok, err := s.next("")
	if err != nil {
		return err
	}
	if err := s.value(tok, t, "", 0); err != nil {
		return err
	}
	if _, err := s.dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Reason: "data after the JSON value"}
	}
	return nil
}

type scanner struct {
	dec *json.Decoder
}

// next reads a token; path names where, for an error.
func (s *scanner) next(path string) (json.Token, error) {
	tok, err := s.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, &Error{Member: path, Reason: "malformed JSON: " + err.Error()}
	}
	return tok, nil
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// resolved is what a value of a type is checked as: the type behind its
// pointers, or nil if values of the type decode themselves.
var resolvedCache sync.Map // reflect.Type → reflect.Type (nil: opaque)

// resolve returns the type a value to be decoded into t is checked as.
func resolve(t reflect.Type) reflect.Type {
	if t == nil {
		return nil
	}
	if r, ok := resolvedCache.Load(t); ok {
		r, _ := r.(reflect.Type)
		return r
	}
	r := t
	for r.Kind() == reflect.Pointer {
		r = r.Elem()
	}
	if opaque(r) {
		r = nil
	}
	resolvedCache.Store(t, r)
	return r
}

// opaque reports whether values of t decode themselves, so that their
// members are not known here.
func opaque(t reflect.Type) bool {
	if t == nil || t.Kind() == reflect.Interface {
		return true
	}
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// value scans the value that starts with tok, to be decoded into t (nil:
// unknown).
func (s *scanner) value(tok json.Token, t reflect.Type, path string, depth int) error {
	t = resolve(t)
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= MaxDepth {
		return &Error{Member: path, Reason: fmt.Sprintf("nested deeper than %d", MaxDepth)}
	}
	if d == '[' {
		return s.array(t, path, depth)
	}
	return s.object(t, path, depth)
}

func (s *scanner) array(t reflect.Type, path string, depth int) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	for i := 0; ; i++ {
		at := path + "[" + strconv.Itoa(i) + "]"
		tok, err := s.next(at)
		if err != nil {
			return err
		}
		if tok == json.Delim(']') {
			return nil
		}
		if err := s.value(tok, elem, at, depth+1); err != nil {
			return err
		}
	}
}

func (s *scanner) object(t reflect.Type, path string, depth int) error {
	var fields map[string]field
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	default:
		t = nil
	}
	seen := map[string]bool{}
	for {
		tok, err := s.next(path)
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			return nil
		}
		name := tok.(string) // an object's keys are strings
		at := join(path, name)
		if seen[name] {
			return &Error{Member: at, Reason: "given twice"}
		}
		seen[name] = true
		ft := elem
		if fields != nil {
			f, ok := fields[name]
			if !ok {
				return &Error{Member: at, Reason: unknown(fields, name)}
			}
			ft = f.typ
		}
		if tok, err = s.next(at); err != nil {
			return err
		}
		if err := s.value(tok, ft, at, depth+1); err != nil {
			return err
		}
	}
}

// unknown says why name is not a member of a struct with fields.
func unknown(fields map[string]field, name string) string {
	for n := range fields {
		if strings.EqualFold(n, name) {
			return fmt.Sprintf("unknown member (names match exactly: %q)", n)
		}
	}
	return "unknown member"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// field is a member of a struct as encoding/json decodes it.
type field struct {
	typ reflect.Type
}

var fieldCache sync.Map // reflect.Type → map[string]field

// fieldsOf returns the members of struct type t by their JSON names,
// promoting those of embedded structs without a name as encoding/json
// does (the shallower one wins).
func fieldsOf(t reflect.Type) map[string]field {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]field)
	}
	out := map[string]field{}
	addFields(out, t, map[reflect.Type]bool{})
	fieldCache.Store(t, out)
	return out
}

func addFields(out map[string]field, t reflect.Type, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	var embedded []reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if _, ok := out[name]; !ok {
			out[name] = field{typ: sf.Type}
		}
	}
	for _, et := range embedded {
		addFields(out, et, visiting)
	}
}
