package gateway

import (
	"strings"
	"testing"

	"github.com/stskms/stskms/gwresult"
)

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
	for _, c := range gwresult.Codes {
		if !strings.Contains(h, string(c.Kind)+" "+c.Code) {
			t.Errorf("help lacks code %s", c.Code)
		}
	}
	if !strings.Contains(h, "gateway@kms.example.com") {
		t.Error("help lacks the gateway address")
	}
}
