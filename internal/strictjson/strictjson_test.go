package strictjson_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/strictjson"
)

type ref struct {
	SGC uint32 `json:"sgc"`
	KRN uint8  `json:"krn"`
}

type meter struct {
	PAN string `json:"pan"`
	ref
}

type request struct {
	ID      string            `json:"request_id,omitempty"`
	Meter   meter             `json:"meter"`
	Amount  uint64            `json:"amount"`
	Tags    map[string]string `json:"tags,omitempty"`
	Items   []ref             `json:"items,omitempty"`
	Raw     json.RawMessage   `json:"raw,omitempty"`
	Any     any               `json:"any,omitempty"`
	When    *time.Time        `json:"when,omitempty"`
	Skipped string            `json:"-"`
	Plain   int
}

// TestUnmarshalRefusals shows each refusal of the strict decoder, and the
// member it names.
func TestUnmarshalRefusals(t *testing.T) {
	for _, c := range []struct {
		name, in, member, reason string
	}{
		{"duplicate", `{"amount":10,"amount":99999}`, "amount", "given twice"},
		{"nested duplicate", `{"meter":{"pan":"1","pan":"2"}}`, "meter.pan", "given twice"},
		{"duplicate promoted", `{"meter":{"sgc":1,"sgc":2}}`, "meter.sgc", "given twice"},
		{"duplicate in array", `{"items":[{"sgc":1},{"krn":1,"krn":2}]}`, "items[1].krn", "given twice"},
		{"duplicate map key", `{"tags":{"a":"1","a":"2"}}`, "tags.a", "given twice"},
		{"duplicate in raw", `{"raw":{"x":1,"x":2}}`, "raw.x", "given twice"},
		{"duplicate in any", `{"any":[{"x":1,"x":2}]}`, "any[0].x", "given twice"},
		{"case", `{"Amount":10}`, "Amount", `names match exactly: "amount"`},
		{"nested case", `{"meter":{"PAN":"1"}}`, "meter.PAN", `names match exactly: "pan"`},
		{"field name case", `{"plain":1}`, "plain", `names match exactly: "Plain"`},
		{"unknown", `{"amount":1,"bonus":2}`, "bonus", "unknown member"},
		{"ignored field", `{"Skipped":"x"}`, "Skipped", "unknown member"},
		{"nested unknown", `{"items":[{"sgc":1,"kt":2}]}`, "items[0].kt", "unknown member"},
		{"trailing value", `{"amount":1} {"amount":2}`, "", "data after the JSON value"},
		{"trailing brace", `{"amount":1}}`, "", ""},
		{"trailing bracket", `{"amount":1}]`, "", ""},
		{"truncated", `{"amount":1`, "", "malformed JSON"},
		{"empty", ``, "", "malformed JSON"},
		{"type", `{"meter":{"krn":300}}`, "meter.krn", "unsigned integer of 8 bits"},
		{"deep", strings.Repeat(`{"any":`, 2) + strings.Repeat("[", strictjson.MaxDepth) + strings.Repeat("]", strictjson.MaxDepth) + `}}`, "any.any", "nested deeper"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v request
			err := strictjson.Unmarshal([]byte(c.in), &v)
			var e *strictjson.Error
			if !errors.As(err, &e) {
				t.Fatalf("Unmarshal(%s) = %v; want a *strictjson.Error", c.in, err)
			}
			if e.Member != c.member && !strings.HasPrefix(e.Member, c.member+"[") {
				t.Errorf("Unmarshal(%s): member %q; want %q (%v)", c.in, e.Member, c.member, err)
			}
			if !strings.Contains(e.Reason, c.reason) {
				t.Errorf("Unmarshal(%s): %q; want it to say %q", c.in, e.Reason, c.reason)
			}
		})
	}
}

// TestUnmarshalAccepts decodes what encoding/json decodes, when it is strict.
func TestUnmarshalAccepts(t *testing.T) {
	in := `{"request_id":"r1","meter":{"pan":"600727000000000009","sgc":123456,"krn":1},"amount":10,
		"tags":{"a":"1","A":"2"},"items":[{"sgc":1},{"sgc":1}],"raw":{"x":[1,{"y":2}]},"any":{"z":null},
		"when":"2026-01-02T03:04:05Z","Plain":7} ` + "\n"
	var got, want request
	if err := strictjson.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	var arr []request
	if err := strictjson.Unmarshal([]byte(`[{"amount":1},{"amount":2}]`), &arr); err != nil || len(arr) != 2 || arr[1].Amount != 2 {
		t.Errorf("array: %v, %+v", err, arr)
	}
}

func TestUnmarshalNeedsPointer(t *testing.T) {
	var v request
	if err := strictjson.Unmarshal([]byte(`{}`), v); err == nil {
		t.Error("a non-pointer was accepted")
	}
}

// FuzzUnmarshal: the strict decoder never panics, and what it accepts
// encoding/json accepts too, with the same result.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"amount":10,"amount":99999}`, `{"Amount":1}`, `{"meter":{"pan":"1","sgc":2}}`,
		`[{"x":1}]`, `{"raw":{"a":[1,2,{"b":null}]}}`, `{"tags":{"k":"v"}} x`, `{"items":[{"sgc":1}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got request
		if err := strictjson.Unmarshal(data, &got); err != nil {
			var e *strictjson.Error
			if !errors.As(err, &e) {
				t.Fatalf("Unmarshal(%q) = %v; not a *strictjson.Error", data, err)
			}
			return
		}
		var want request
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("strict accepted %q, encoding/json refused it: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: strict %+v, encoding/json %+v", data, got, want)
		}
		if err := strictjson.Check(data, nil); err != nil {
			t.Fatalf("Check(%q, nil) = %v after Unmarshal accepted it", data, err)
		}
	})
}
