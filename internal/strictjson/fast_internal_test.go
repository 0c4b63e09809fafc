package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

type fuzzRef struct {
	SGC uint32 `json:"sgc"`
}

type fuzzTarget struct {
	A    int               `json:"a"`
	B    []fuzzRef         `json:"b"`
	M    map[string]any    `json:"m"`
	R    json.RawMessage   `json:"r"`
	P    *fuzzRef          `json:"p"`
	Many map[string]string `json:"many"`
	fuzzRef
}

// FuzzWalkerMatchesTokens: on valid JSON the fast walker and the token
// scanner give the same verdict and name the same member.
func FuzzWalkerMatchesTokens(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"b":[{"sgc":1},{"SGC":2}]}`, `{"m":{"x":{"y":1,"y":2}}}`,
		`{"r":[{"q":1,"q":1}]}`, `{"\u0061":1,"a":2}`, `{"p":{"sgc":1,"x":2}}`, `[1,{"a":1}]`, `{"sgc":1}`,
		`{"many":{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","h":"","i":"","j":"","k":"","l":"","m":"","n":"","o":"","p":"","q":"","a":""}}`} {
		f.Add([]byte(s))
	}
	t := reflect.TypeFor[fuzzTarget]()
	f.Fuzz(func(tt *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		w := walker{d: data}
		fast := w.value(t, 0)
		slow := checkTokens(data, t)
		var fe, se *Error
		if (fast == nil) != (slow == nil) {
			tt.Fatalf("%q: walker %v, tokens %v", data, fast, slow)
		}
		if fast != nil && (!errors.As(fast, &fe) || !errors.As(slow, &se) || fe.Member != se.Member || fe.Reason != se.Reason) {
			tt.Fatalf("%q: walker %v, tokens %v", data, fast, slow)
		}
	})
}
