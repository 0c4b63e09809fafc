package gwresult

import (
	"strings"
	"testing"
)

// FuzzResult: every Result renders to one header line that parses back
// to the same kind and code, with as many elements.
func FuzzResult(f *testing.F) {
	f.Add("Error", "EVkloadExpired", "The VKLOADREQ is stale", "20250103T120000Z")
	f.Add("Notice", "Deferred", "later\tor\r\nnever", "")
	f.Add("Success", "", "ok", "")
	f.Fuzz(func(t *testing.T, kind, code, text, param string) {
		r := Result{Kind: Kind(kind), Code: code, Text: text}
		if param != "" {
			r.Params = []string{param}
		}
		h := r.Header()
		if strings.ContainsAny(h, "\r\n") || len(h) > maxLen {
			t.Fatalf("header %q", h)
		}
		back, err := Parse(h)
		valid := (r.Kind == Success) || (r.Kind == Failure || r.Kind == Notice) && Clean(code) != ""
		if !valid || len(h) == maxLen {
			return
		}
		wantCode := Clean(code)
		if r.Kind == Success {
			wantCode = ""
		}
		if err != nil || back.Kind != r.Kind || back.Code != wantCode {
			t.Fatalf("Parse(%q) = %+v, %v", h, back, err)
		}
	})
}
