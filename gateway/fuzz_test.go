package gateway

import "testing"

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
