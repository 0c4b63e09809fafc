package browsertest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/console/kmcconsole"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/kmc"
)

// TestBrowserKUAs: an operator grants a key-use authorisation through the
// page's form and revokes it with its button, each audited with her name;
// a grant with a bad supply group code is a 400 that changes nothing; an
// auditor is offered neither form and his POST of a grant is refused; the
// other register pages render for an operator, and a bad filter is a 400.
func TestBrowserKUAs(t *testing.T) {
	needBrowser(t)
	ctx := context.Background()
	k, dir := consoletest.KMC(t)
	if _, err := k.AddSupplyGroup(ctx, "operator:setup", 1, "Example Utility"); err != nil {
		t.Fatal(err)
	}
	key, pkid := testparty.SM(t)
	if _, err := k.RegisterSM(ctx, "operator:setup", kmc.SM{SMID: pkid, PublicKey: key.PublicKey(), Model: "Test-SSM-1",
		Firmware: "SSM1V100", Variant: kmc.Vending, Virtual: true}); err != nil {
		t.Fatal(err)
	}
	st, origin := kmcConsole(t, k, dir, kmcconsole.Options{})
	kuas := func() []kmc.KUA {
		all, err := k.KUAs(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		return all
	}

	olga := signIn(t, origin, st, "olga", role.Operator)
	olga.call(chromedp.Navigate(origin+"/console/kuas"), chromedp.WaitVisible(chromedp.ID("grant")))
	until := time.Now().UTC().AddDate(0, 1, 0).Format("2006-01-02")
	olga.eval(fmt.Sprintf(`(() => {
		document.getElementById("g-sm").value = "TestVendor:94000001";
		document.getElementById("g-sgc").value = "1";
		document.getElementById("g-type-VUDK").checked = true;
		document.getElementById("g-until").value = %q;
		document.getElementById("grant").requestSubmit();
		return "sent";
	})()`, until))
	olga.call(chromedp.WaitVisible(chromedp.ID("message")))
	if got := olga.text("#message"); !strings.Contains(got, "Granted authorisation 1") {
		t.Errorf("grant: %q", got)
	}
	if all := kuas(); len(all) != 1 || all[0].GrantedBy != "operator:olga" || all[0].Types != kmc.TypesOf(kmc.VUDK) {
		t.Fatalf("after the grant: %+v", all)
	}
	olga.noErrors("grant")

	csrf := olga.eval(`document.querySelector("input[name=csrf]").value`)
	bad := url.Values{"csrf": {csrf}, "sm": {"TestVendor:94000001"}, "sgc": {"12345678"}, "types": {"VDDK"}, "until": {until}}
	if got := olga.postStatus("/console/kuas/grant", bad); got != "400" {
		t.Errorf("grant with a bad sgc: status %s, want 400", got)
	}
	if n := len(kuas()); n != 1 {
		t.Errorf("a refused grant changed the KUAs: %d", n)
	}

	carol := signIn(t, origin, st, "carol", role.Auditor)
	carol.call(chromedp.Navigate(origin+"/console/kuas"), chromedp.WaitVisible(chromedp.ID("kuas")))
	if n := carol.eval(`String(document.querySelectorAll("#grant, button.danger").length)`); n != "0" {
		t.Errorf("the auditor is offered %s grant or revoke controls", n)
	}
	good := url.Values{"csrf": {carol.eval(`document.querySelector("input[name=csrf]").value`)}, "sm": {"TestVendor:94000001"},
		"sgc": {"1"}, "types": {"VDDK"}, "until": {until}}
	if got := carol.postStatus("/console/kuas/grant", good); got != "403" {
		t.Errorf("auditor's grant: status %s, want 403", got)
	}
	if n := len(kuas()); n != 1 {
		t.Errorf("the auditor's grant changed the KUAs: %d", n)
	}

	olga.takeErrors() // the refused POST's 400
	olga.call(chromedp.Navigate(origin+"/console/kuas"), chromedp.WaitVisible(chromedp.ID("revoke-1")))
	olga.eval(`(() => { document.getElementById("revoke-1").click(); return "sent"; })()`)
	olga.call(chromedp.WaitVisible(chromedp.ID("message")))
	if all := kuas(); all[0].RevokedBy != "operator:olga" {
		t.Errorf("after the revoke: %+v", all)
	}
	olga.noErrors("revoke")
	for path, h1 := range map[string]string{"keys": "Supply groups and vending keys", "modules": "Security modules",
		"klfs": "Key Load Files issued", "refusals": "Refusals", "kuas?state=revoked": "Key-use authorisations"} {
		olga.call(chromedp.Navigate(origin+"/console/"+path), chromedp.WaitVisible(chromedp.CSS("h1")))
		if got := olga.text("h1"); got != h1 {
			t.Errorf("/console/%s: heading %q, want %q", path, got, h1)
		}
	}
	olga.noErrors("the register pages")
	for _, q := range []string{"keys?sgc=abc", "klfs?from=yesterday", "modules?state=lost"} {
		if got := olga.eval(fmt.Sprintf(`fetch(%q).then(r => String(r.status))`, "/console/"+q)); got != "400" {
			t.Errorf("/console/%s: status %s, want 400", q, got)
		}
	}
	olga.takeErrors() // the three 400s
	for _, action := range []string{"kua.grant", "kua.revoke"} {
		if !auditHas(t, k.AuditLog(), "operator:olga", action) {
			t.Errorf("no audit record operator:olga %s", action)
		}
	}
	if !auditHas(t, st.Audit(), "auditor:carol", "console.refused") {
		t.Error("the auditor's refused grant is not audited")
	}
}
