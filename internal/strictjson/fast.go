package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// walker checks a valid JSON text (json.Valid holds) as the token scanner
// does, without allocating per token: the same refusals, the same members
// named. It keeps the path as a stack and makes its string only for an
// error.
type walker struct {
	d    []byte
	i    int
	path []segment
}

// segment is one step of a path: a member name or an array index.
type segment struct {
	name  []byte
	index int // -1 for a member
}

// pathString renders the path as the token scanner does ("a.b[2].c").
func (w *walker) pathString() string {
	var b strings.Builder
	for _, s := range w.path {
		if s.index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(s.name)
	}
	return b.String()
}

func (w *walker) fail(reason string) error { return &Error{Member: w.pathString(), Reason: reason} }

func (w *walker) ws() {
	for w.i < len(w.d) {
		switch w.d[w.i] {
		case ' ', '\t', '\r', '\n':
			w.i++
		default:
			return
		}
	}
}

// value walks the value at w.i, to be decoded into t (nil: unknown).
func (w *walker) value(t reflect.Type, depth int) error {
	t = resolve(t)
	w.ws()
	switch w.d[w.i] {
	case '{', '[':
		if depth >= MaxDepth {
			return w.fail(fmt.Sprintf("nested deeper than %d", MaxDepth))
		}
		if w.d[w.i] == '[' {
			return w.array(t, depth)
		}
		return w.object(t, depth)
	case '"':
		w.skipString()
	default: // a number, true, false or null
		for w.i < len(w.d) && !endOfScalar(w.d[w.i]) {
			w.i++
		}
	}
	return nil
}

func endOfScalar(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// skipString moves past the string at w.i and reports whether it holds an
// escape.
func (w *walker) skipString() (escaped bool) {
	w.i++ // the opening quote
	for {
		switch w.d[w.i] {
		case '\\':
			escaped = true
			w.i += 2
		case '"':
			w.i++
			return escaped
		default:
			w.i++
		}
	}
}

func (w *walker) array(t reflect.Type, depth int) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	w.i++ // [
	w.ws()
	if w.d[w.i] == ']' {
		w.i++
		return nil
	}
	for n := 0; ; n++ {
		w.path = append(w.path, segment{index: n})
		if err := w.value(elem, depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.ws()
		if w.d[w.i] == ']' {
			w.i++
			return nil
		}
		w.i++ // ,
	}
}

// key reads the member name at w.i, unescaped.
func (w *walker) key() []byte {
	start := w.i
	escaped := w.skipString()
	raw := w.d[start:w.i]
	if !escaped && utf8.Valid(raw) {
		return raw[1 : len(raw)-1]
	}
	// encoding/json reads escapes, and bytes that are not UTF-8 as U+FFFD.
	var s string
	json.Unmarshal(raw, &s) // valid JSON: cannot fail
	return []byte(s)
}

// seenSet is the member names of an object so far: a short list, a map
// once the object is large.
type seenSet struct {
	buf [16][]byte
	n   int // of buf used
	m   map[string]bool
}

// add adds name, false if it was there.
func (s *seenSet) add(name []byte) bool {
	if s.m != nil {
		if s.m[string(name)] {
			return false
		}
		s.m[string(name)] = true
		return true
	}
	for _, n := range s.buf[:s.n] {
		if bytes.Equal(n, name) {
			return false
		}
	}
	s.buf[s.n] = name
	if s.n++; s.n == len(s.buf) {
		s.m = make(map[string]bool, 2*s.n)
		for _, n := range s.buf {
			s.m[string(n)] = true
		}
	}
	return true
}

func (w *walker) object(t reflect.Type, depth int) error {
	var fields map[string]field
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = fieldsOf(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	w.i++ // {
	w.ws()
	if w.d[w.i] == '}' {
		w.i++
		return nil
	}
	var seen seenSet
	for {
		w.ws()
		name := w.key()
		w.path = append(w.path, segment{name: name, index: -1})
		if !seen.add(name) {
			return w.fail("given twice")
		}
		ft := elem
		if fields != nil {
			f, ok := fields[string(name)]
			if !ok {
				return w.fail(unknown(fields, string(name)))
			}
			ft = f.typ
		}
		w.ws()
		w.i++ // :
		if err := w.value(ft, depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
		w.ws()
		if w.d[w.i] == '}' {
			w.i++
			return nil
		}
		w.i++ // ,
	}
}
