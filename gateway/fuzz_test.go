package gateway

import (
	"strings"
	"testing"
)

// FuzzDecide: any input parses without panic, and the decision is
// consistent: a reply has recipients, none of them the gateway, and an
// ignore has no result.
func FuzzDecide(f *testing.F) {
	f.Add(reqMail("Regards"), alice)
	f.Add(reqMail("", "Subject: {KMS:GetCoffee}"), alice)
	f.Add(reqMail("", "Auto-Submitted: auto-replied"), "")
	ct, body := multipart("mixed", plainPart, txtAttach)
	f.Add(reqMail(body, ct, "Subject: {KMS:GetKlfStsEd2}"), alice)
	f.Add(reqMail("<p>x</p>", "Content-Type: text/html"), alice)
	f.Fuzz(func(t *testing.T, raw, from string) {
		in := ParseMessage(envFrom(from), []byte(raw), int64(len(raw)), false)
		d := Decide(in, &testPolicy)
		switch d.Action {
		case Reply:
			if len(d.To) == 0 || d.Reason == "" {
				t.Fatalf("reply %+v", d)
			}
			for _, a := range d.To {
				if containsAddress(testPolicy.Addresses, a) || containsAddress(testPolicy.Own, a) {
					t.Fatalf("reply to the gateway itself: %q", a)
				}
			}
			if d.Result == nil && d.Service == nil {
				t.Fatalf("reply without service or result")
			}
		case Ignore:
			if d.Result != nil || d.Reason == "" {
				t.Fatalf("ignore %+v", d)
			}
		}
	})
}

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
		if strings.ContainsAny(h, "\r\n") || len(h) > maxResultLen {
			t.Fatalf("header %q", h)
		}
		back, err := ParseResult(h)
		valid := (r.Kind == Success) || (r.Kind == Failure || r.Kind == Notice) && headerSafe(code) != ""
		if !valid || len(h) == maxResultLen {
			return
		}
		wantCode := headerSafe(code)
		if r.Kind == Success {
			wantCode = ""
		}
		if err != nil || back.Kind != r.Kind || back.Code != wantCode {
			t.Fatalf("ParseResult(%q) = %+v, %v", h, back, err)
		}
	})
}
