package smconsole

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sts"
)

// TestActivityTokens: the activity page charts the token requests the
// module answered, by class, in the step they were made, for every role
// that may list them, and draws them as SVG; a role the module refuses is
// refused.
func TestActivityTokens(t *testing.T) {
	ctx := context.Background()
	m := loaded(t)
	for range 2 {
		if _, err := m.Credit(ctx, operator, sm.CreditRequest{Meter: apitest.Meter(1), Sub: sts.Electricity, Amount: 10}); err != nil {
			t.Fatal(err)
		}
	}
	site := Site(m)
	var page console.Page
	for _, p := range site.Pages {
		if p.Path == "activity" {
			page = p
		}
	}
	if len(page.Charts) != 1 || page.Op != "token.list" {
		t.Fatalf("activity page %+v", page)
	}
	for _, a := range []sm.Actor{officer, operator, auditor} {
		for _, p := range console.Periods {
			c, err := tokensChart(ctx, m, a, p, time.Now())
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			if len(c.Series) != 1 || c.Series[0].Name != "credit" || c.Series[0].Values[p.Steps-1] != 2 {
				t.Errorf("%s, %s: series %+v, want credit: 2 in the last step", a, p.Name, c.Series)
			}
		}
	}
	c, err := page.Charts[0].Chart(ctx, auditor, query(t, "period=30d"))
	if err != nil {
		t.Fatal(err)
	}
	svg, err := c.SVG()
	if err != nil || !strings.Contains(string(svg), ">credit</text>") || !strings.Contains(string(svg), "the last 30 days") {
		t.Errorf("the chart does not draw its series (%v)", err)
	}
	if _, err := tokensChart(ctx, m, nobody, console.Periods[0], time.Now()); !errors.Is(err, sm.ErrRole) {
		t.Errorf("no role: %v, want sm.ErrRole", err)
	}
}
