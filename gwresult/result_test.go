package gwresult

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
		back, err := Parse(tc.r.Header())
		if err != nil || !reflect.DeepEqual(back, tc.r) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.r.Header(), back, err, tc.r)
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

func TestParseBad(t *testing.T) {
	for _, v := range []string{"", "Success", "Success\ta\tb", "Error\tEX", "Notice", "Ok\tfine", "Error\t\ttext"} {
		if r, err := Parse(v); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", v, r)
		}
	}
	// A header folded before a tab unfolds to the same value.
	r, err := Parse("Error\r\n\tEVkloadExpired\r\n\tstale")
	if err != nil || r.Code != EVkloadExpired || r.Text != "stale" {
		t.Errorf("folded: %+v, %v", r, err)
	}
}

// TestCodes: every code is documented once, in words a header carries
// unchanged; error codes start with E; Lookup finds each and nothing else.
func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes {
		if seen[c.Code] {
			t.Errorf("%s listed twice", c.Code)
		}
		seen[c.Code] = true
		if c.Description == "" || Clean(c.Description) != c.Description {
			t.Errorf("%s: bad description %q", c.Code, c.Description)
		}
		if Clean(c.Params) != c.Params {
			t.Errorf("%s: bad params %q", c.Code, c.Params)
		}
		if (c.Kind == Failure) != strings.HasPrefix(c.Code, "E") || c.Kind == Success {
			t.Errorf("%s: kind %s", c.Code, c.Kind)
		}
		if got, ok := Lookup(c.Code); !ok || got != c {
			t.Errorf("Lookup(%s) = %+v, %v", c.Code, got, ok)
		}
	}
	for _, code := range []string{EUnknownService, ENotPlainText, EAttachment, ENotAuthorisedSender, ENotAvailable,
		ETooManyRecipients, ERecordFormat, ERecordCrc, EUnknownKmc, EKmcKeyExpired, EVkloadExpired, ETagInvalid,
		EUnknownSm, EVkloadReplayed, ESmRevoked, ESmNotCertified, ESmNotAuthorised, ENoVendingKeys, ESmUpdateRecord,
		ESmUpdateUnknownKey, ESmUpdateSignature, ESmUpdateStale, ESmUpdateConflict, EInternal, Deferred, Blocked} {
		if !seen[code] {
			t.Errorf("%s not in Codes", code)
		}
	}
	if c, ok := Lookup("ENoSuchCode"); ok {
		t.Errorf("Lookup(ENoSuchCode) = %+v", c)
	}
}

// TestSeedCodes: the codes STS 600-9-2 §8.3.2 itself shows keep the
// seed's own words.
func TestSeedCodes(t *testing.T) {
	if c, _ := Lookup(EVkloadExpired); c.Kind != Failure ||
		c.Description != "The VKLOADREQ is stale; generate a fresh VKLOADREQ and try again" {
		t.Errorf("EVkloadExpired: %+v", c)
	}
	if c, _ := Lookup(Deferred); c.Kind != Notice || !strings.HasSuffix(c.Description, "; you don't need to do anything") {
		t.Errorf("Deferred: %+v", c)
	}
}
