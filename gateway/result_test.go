package gateway

import (
	"reflect"
	"strings"
	"testing"
)

// TestResultHeaderSeed renders the three forms of STS 600-9-2 §8.3.2 with
// the seed's own examples, HTAB-separated.
func TestResultHeaderSeed(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Kind: Success, Text: "The operation completed successfully"},
			"Success\tThe operation completed successfully"},
		{Result{Kind: Failure, Code: EVkloadExpired, Text: "The VKLOADREQ is stale; generate a fresh VKLOADREQ and try again"},
			"Error\tEVkloadExpired\tThe VKLOADREQ is stale; generate a fresh VKLOADREQ and try again"},
		{Result{Kind: Notice, Code: Deferred, Text: "Operation failed but will be retried; you don't need to do anything"},
			"Notice\tDeferred\tOperation failed but will be retried; you don't need to do anything"},
		{Result{Kind: Failure, Code: ERecordFormat, Text: "bad", Params: []string{"p1", "p2"}},
			"Error\tERecordFormat\tbad\tp1\tp2"},
		{Result{Kind: Notice, Code: Blocked, Text: "blocked", Params: []string{"20250103T120000Z"}},
			"Notice\tBlocked\tblocked\t20250103T120000Z"},
	} {
		if got := tc.r.Header(); got != tc.want {
			t.Errorf("Header() = %q, want %q", got, tc.want)
		}
		back, err := ParseResult(tc.r.Header())
		if err != nil || !reflect.DeepEqual(back, tc.r) {
			t.Errorf("ParseResult(%q) = %+v, %v; want %+v", tc.r.Header(), back, err, tc.r)
		}
	}
}

// TestResultHeaderSafe: elements never carry a tab, line break, control
// or non-ASCII character, and the header fits one line.
func TestResultHeaderSafe(t *testing.T) {
	r := Result{Kind: Failure, Code: "EX", Text: "a\tb\r\nc  d\x00é", Params: []string{"x\ty", strings.Repeat("z", 2000)}}
	h := r.Header()
	if got := strings.Count(h, "\t"); got != 4 {
		t.Errorf("%d tabs in %q, want 4", got, h[:60])
	}
	if !strings.HasPrefix(h, "Error\tEX\ta b c d??\tx y\tzzz") {
		t.Errorf("Header() = %q", h[:40])
	}
	if len(HeaderName)+2+len(h) > 998 {
		t.Errorf("header line of %d characters", len(HeaderName)+2+len(h))
	}
	for _, c := range []byte(h) {
		if c != '\t' && (c < 0x20 || c >= 0x7F) {
			t.Fatalf("byte %#x in header", c)
		}
	}
}

func TestParseResultBad(t *testing.T) {
	for _, v := range []string{"", "Success", "Success\ta\tb", "Error\tEX", "Notice", "Ok\tfine", "Error\t\ttext"} {
		if r, err := ParseResult(v); err == nil {
			t.Errorf("ParseResult(%q) = %+v, want error", v, r)
		}
	}
	// A header folded before a tab unfolds to the same value.
	r, err := ParseResult("Error\r\n\tEVkloadExpired\r\n\tstale")
	if err != nil || r.Code != EVkloadExpired || r.Text != "stale" {
		t.Errorf("folded: %+v, %v", r, err)
	}
}

// TestCodes: every code is documented once, error codes start with E.
func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes {
		if seen[c.Code] {
			t.Errorf("%s listed twice", c.Code)
		}
		seen[c.Code] = true
		if c.Description == "" || !isASCII(c.Description) || strings.ContainsAny(c.Description, "\t\r\n") {
			t.Errorf("%s: bad description %q", c.Code, c.Description)
		}
		if (c.Kind == Failure) != strings.HasPrefix(c.Code, "E") {
			t.Errorf("%s: kind %s", c.Code, c.Kind)
		}
	}
	for _, code := range []string{EUnknownService, ENotPlainText, EAttachment, ENotAuthorisedSender, ENotAvailable,
		ERecordFormat, ERecordCrc, EUnknownKmc, EKmcKeyExpired, EVkloadExpired, ETagInvalid, EUnknownSm,
		EVkloadReplayed, ESmRevoked, ESmNotCertified, ESmNotAuthorised, ENoVendingKeys, EInternal, Deferred, Blocked} {
		if !seen[code] {
			t.Errorf("%s not in Codes", code)
		}
	}
}

// TestHelpText: generated from the definitions, plain ASCII, short lines,
// listing every service and code.
func TestHelpText(t *testing.T) {
	h := HelpText("gateway@kms.example.com")
	if !isASCII(h) {
		t.Error("help text is not ASCII")
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n") {
		if len(l) > 78 {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
		if strings.Contains(l, "\n") || strings.Contains(l, "\r") {
			t.Errorf("bare line end in %q", l)
		}
	}
	for _, s := range Services {
		if !strings.Contains(h, s.Subject()) {
			t.Errorf("help lacks %s", s.Subject())
		}
	}
	for _, c := range Codes {
		if !strings.Contains(h, string(c.Kind)+" "+c.Code) {
			t.Errorf("help lacks code %s", c.Code)
		}
	}
	if !strings.Contains(h, "gateway@kms.example.com") {
		t.Error("help lacks the gateway address")
	}
}
