package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sts"
)

// TestBrowserModulePages: an auditor runs the self-tests from the
// self-test page with the keyboard, is told they passed, and the page then
// shows the new report, the run audited with her name; the registers page
// shows the register and its credit left, the tokens page the credit
// issued with its amount and unit but never the token's digits; a bad
// filter is a 400; no page reports an error.
func TestBrowserModulePages(t *testing.T) {
	needBrowser(t)
	ctx := context.Background()
	m, dir := consoletest.ModuleBy(t, apitest.Setup)
	issued, err := m.Credit(ctx, sm.Operator.As("pos"), sm.CreditRequest{Meter: apitest.Meter(1), Sub: sts.Electricity, Amount: 125})
	if err != nil {
		t.Fatal(err)
	}
	st, origin := smConsole(t, m, dir)

	erin := signIn(t, origin, st, "erin", role.Auditor)
	before := m.LastSelftest().Time
	erin.call(chromedp.Navigate(origin+"/console/selftest"), chromedp.WaitVisible(chromedp.ID("selftest-run")))
	erin.noErrors("self-test")
	erin.eval(`document.getElementById("selftest-run").focus(), ""`)
	erin.call(chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.ID("message")))
	if got := erin.text("#message"); !strings.Contains(got, "self-tests passed") {
		t.Errorf("after the run: %q", got)
	}
	after := m.LastSelftest()
	if !after.Time.After(before) || !after.OK {
		t.Fatalf("the module's last self-test is of %v (before %v), passed %v", after.Time, before, after.OK)
	}
	erin.call(chromedp.Navigate(origin+"/console/selftest"), chromedp.WaitVisible(chromedp.ID("selftest-results")))
	if got := erin.text("#selftest-state"); !strings.Contains(got, after.Time.UTC().Format("2006-01-02 15:04:05 UTC")) ||
		!strings.Contains(got, "passed") {
		t.Errorf("the page shows %q, not the run of %v", got, after.Time)
	}
	l, err := m.Audit(sm.Auditor.As("erin"))
	if err != nil {
		t.Fatal(err)
	}
	if !auditHas(t, l, "auditor:erin", "sm.selftest") {
		t.Error("the run is not audited with the person's name")
	}
	erin.screenshot("console-sm-selftest", 1280)
	erin.noErrors("self-test run")

	erin.call(chromedp.Navigate(origin+"/console/registers?sgc=123456"), chromedp.WaitVisible(chromedp.ID("registers")))
	regs, err := m.Registers(ctx, sm.Auditor.As("erin"))
	if err != nil || len(regs) != 1 {
		t.Fatalf("registers %v, %v", regs, err)
	}
	if got := erin.text("#registers"); !strings.Contains(got, "123456") || !strings.Contains(got, regs[0].KCV) ||
		!strings.Contains(got, "125 units") {
		t.Errorf("registers page: %q", got)
	}
	erin.screenshot("console-sm-registers", 1280)
	erin.noErrors("registers")

	erin.call(chromedp.Navigate(origin+"/console/tokens?meter="+apitest.PAN(1).DRN()), chromedp.WaitVisible(chromedp.ID("tokens")))
	if got := erin.text("#tokens"); !strings.Contains(got, "12.5 kWh") || !strings.Contains(got, fmt.Sprint(issued.TID)) ||
		!strings.Contains(got, "operator:pos") {
		t.Errorf("tokens page: %q", got)
	}
	if html := erin.eval(`document.documentElement.outerHTML`); strings.Contains(html, issued.Tokens[0]) {
		t.Error("the tokens page shows a token's digits")
	}
	erin.screenshot("console-sm-tokens", 1280)
	erin.noErrors("tokens")
	for _, bad := range []string{"/console/tokens?meter=123", "/console/tokens?class=x", "/console/registers?sgc=abc"} {
		if got := erin.eval(fmt.Sprintf(`fetch(%q).then(r => String(r.status))`, bad)); got != "400" {
			t.Errorf("GET %s: %s, want 400", bad, got)
		}
	}
}
