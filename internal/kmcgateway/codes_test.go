package kmcgateway

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/kmc"
)

// TestKMCCodesInGatewayList: every code the KMC refuses with (a Key Load
// File's and a registry update's) is in the gateway's list as an Error with
// the KMC's own description, so that {KMS:Help}, docs/gateway.md and a
// mail client's Advice say what the KMC sends; and docs/kmc.md §4.1 gives
// each Key Load File code with that description.
func TestKMCCodesInGatewayList(t *testing.T) {
	doc, err := os.ReadFile("../../docs/kmc.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range slices.Concat(kmc.Codes, kmc.UpdateCodes) {
		info, ok := gwresult.Lookup(string(c))
		switch {
		case !ok:
			t.Errorf("%s is not in gwresult.Codes", c)
		case info.Kind != gwresult.Failure:
			t.Errorf("%s is a %s in gwresult.Codes, want an Error", c, info.Kind)
		case info.Description != c.Description():
			t.Errorf("%s: the gateway says %q, the KMC %q", c, info.Description, c.Description())
		}
	}
	for _, c := range kmc.Codes {
		if row := "| `" + string(c) + "` | " + c.Description() + " "; !strings.Contains(string(doc), row) {
			t.Errorf("docs/kmc.md lacks the row %q", row)
		}
	}
}
