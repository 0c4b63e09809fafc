package audit

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestHashVectors pins the hash encoding of the package doc to values
// computed with Python's hashlib and struct, following the doc alone.
func TestHashVectors(t *testing.T) {
	var id [16]byte
	for i := range id {
		id[i] = byte(i)
	}
	g := genesis(id)
	if got, want := hex.EncodeToString(g[:]), "ec227821953a732126ae94579844e53cd804314cbedeb2428d4303f542902c85"; got != want {
		t.Errorf("genesis = %s, want %s", got, want)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC).UnixNano()
	h1 := hashRecord(1, at, "officer:alice", "token.issue", "600727000000000009",
		[]byte(`{"amount":1500,"tid":12345}`), &g)
	if got, want := hex.EncodeToString(h1[:]), "a0b7244ed7206aadd24569f1cdd5536887dd8d300fc9643eaa5130892885f34d"; got != want {
		t.Errorf("record 1 hash = %s, want %s", got, want)
	}
	h2 := hashRecord(2, at+1, "sm:été", "klf.load", "", []byte(`{}`), &h1)
	if got, want := hex.EncodeToString(h2[:]), "9ca274139e684d5ce98f68098c682e16badac4c45a3a57ccd226c57d1737b7ee"; got != want {
		t.Errorf("record 2 hash = %s, want %s", got, want)
	}
}

// TestHashUnambiguous checks that moving bytes from one field to the next
// changes the hash (the length prefixes at work).
func TestHashUnambiguous(t *testing.T) {
	var prev [32]byte
	a := hashRecord(1, 0, "ab", "c", "", []byte("{}"), &prev)
	b := hashRecord(1, 0, "a", "bc", "", []byte("{}"), &prev)
	if a == b {
		t.Error("fields are not delimited")
	}
}

func TestCanonicalDetails(t *testing.T) {
	type amount struct {
		TID    int64  `json:"tid"`
		Amount int64  `json:"amount"`
		Unit   string `json:"unit,omitempty"`
	}
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, `{}`},
		{"empty", json.RawMessage(`{ }`), `{}`},
		{"struct", amount{TID: 7, Amount: -150}, `{"amount":-150,"tid":7}`},
		{"map", map[string]any{"z": true, "a": nil, "m": []any{1, "x", false}}, `{"a":null,"m":[1,"x",false],"z":true}`},
		{"raw whitespace", json.RawMessage(" {\n\t\"b\" : 2 ,\"a\":{\"d\":[ ],\"c\":{}}}\n"), `{"a":{"c":{},"d":[]},"b":2}`},
		{"numbers", json.RawMessage(`{"a":1.0,"b":-0,"c":1e3,"d":9007199254740991,"e":-9007199254740991}`),
			`{"a":1,"b":0,"c":1000,"d":9007199254740991,"e":-9007199254740991}`},
		{"escapes", json.RawMessage(`{"s":"\u0041\"\\\/\b\f\n\r\t\u0001\u001f\u007f\u00e9\u2028<>&"}`),
			"{\"s\":\"A\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\u007fé\u2028<>&\"}"},
		{"go escapes undone", map[string]string{"h": "<a&b>"}, `{"h":"<a&b>"}`},
		// RFC 8785 §3.2.3: names sorted by UTF-16 code units.
		{"rfc8785 sort", json.RawMessage(`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`),
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
	} {
		got, err := canonicalDetails(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		// Canonical form is a fixed point.
		again, err := canonicalDetails(json.RawMessage(got))
		if err != nil || string(again) != string(got) {
			t.Errorf("%s: canonical form not stable: %s, %v", tc.name, again, err)
		}
	}
}

func TestCanonicalDetailsRefused(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	deepArr := `{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + "}"
	for _, tc := range []struct {
		name string
		in   any
	}{
		{"array", []int{1, 2}},
		{"string", "x"},
		{"number", 42},
		{"bool", true},
		{"bytes", []byte(`{"a":1}`)}, // a base64 string, not an object
		{"typed nil", (*struct{ A int })(nil)},
		{"raw null", json.RawMessage(`null`)},
		{"raw empty", json.RawMessage(``)},
		{"raw array", json.RawMessage(`[{}]`)},
		{"raw string", json.RawMessage(`"{}"`)},
		{"bad json", json.RawMessage(`{"a":}`)},
		{"unclosed", json.RawMessage(`{"a":1`)},
		{"trailing", json.RawMessage(`{"a":1} {}`)},
		{"trailing garbage", json.RawMessage(`{"a":1}x`)},
		{"duplicate", json.RawMessage(`{"a":1,"a":1}`)},
		{"nested duplicate", json.RawMessage(`{"o":{"k":1,"k":2}}`)},
		{"fraction", json.RawMessage(`{"a":1.5}`)},
		{"float field", map[string]float64{"a": 0.25}},
		{"too big", json.RawMessage(`{"a":9007199254740992}`)},
		{"too small", json.RawMessage(`{"a":-9007199254740992}`)},
		{"huge", json.RawMessage(`{"a":1e400}`)},
		{"invalid utf-8", json.RawMessage("{\"a\":\"\xff\"}")},
		{"deep", json.RawMessage(deep)},
		{"deep array", json.RawMessage(deepArr)},
		{"long", map[string]string{"a": strings.Repeat("x", MaxDetails)}},
		{"unencodable", map[string]any{"f": func() {}}},
	} {
		_, err := canonicalDetails(tc.in)
		var ee *EntryError
		if !errors.As(err, &ee) || !errors.Is(err, ErrBadEntry) || ee.Field != "Details" {
			t.Errorf("%s: err = %v, want an *EntryError on Details", tc.name, err)
		}
	}
	// Just within the limits.
	ok := strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth)
	if _, err := canonicalDetails(json.RawMessage(ok)); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
}

func TestEntryFields(t *testing.T) {
	good := Entry{Actor: "officer:alice", Action: "token.issue", Subject: "600727000000000009"}
	if _, err := good.prepare(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Entry)
	}{
		{"Actor", func(e *Entry) { e.Actor = "" }},
		{"Action", func(e *Entry) { e.Action = "" }},
		{"Actor", func(e *Entry) { e.Actor = "alice\nroot" }},
		{"Action", func(e *Entry) { e.Action = "token.issue\x00" }},
		{"Subject", func(e *Entry) { e.Subject = "\x1b[31m" }},
		{"Subject", func(e *Entry) { e.Subject = "\u0085" }},
		{"Subject", func(e *Entry) { e.Subject = "\xff" }},
		{"Subject", func(e *Entry) { e.Subject = strings.Repeat("x", MaxField+1) }},
		{"Details", func(e *Entry) { e.Details = []string{} }},
	} {
		e := good
		tc.edit(&e)
		_, err := e.prepare()
		var ee *EntryError
		if !errors.As(err, &ee) || ee.Field != tc.field || !errors.Is(err, ErrBadEntry) {
			t.Errorf("%+v: err = %v, want an *EntryError on %s", e, err, tc.field)
		}
	}
	e := good
	e.Subject = ""
	if _, err := e.prepare(); err != nil {
		t.Errorf("empty subject: %v", err)
	}
}
