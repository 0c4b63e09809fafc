package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/console/kmcconsole"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
)

// stepDoneJS waits for the page's status to say how a passkey-confirmed
// step ended, and returns it.
const stepDoneJS = `new Promise(function (resolve) {
  const el = document.getElementById("status");
  const check = function () {
    if (/^(Done|Not done)/.test(el.textContent)) { resolve(el.textContent); } else { setTimeout(check, 50); }
  };
  check();
})`

// fill sets the values of the fields of ids on the tab's page.
func (tb *tab) fill(values map[string]string) {
	tb.t.Helper()
	text, _ := json.Marshal(values)
	tb.eval(`(function (v) { for (const id in v) { document.getElementById(id).value = v[id]; } return ""; })(` + string(text) + `)`)
}

// TestBrowserImport: two officers import a vending key in two browsers,
// each typing their own secret component into a password field and
// confirming the step with their own passkey; the page clears the field
// after each step, lists the pending import by KCVs and officers only,
// and the KMC combines the key in the end. No page reports an error.
func TestBrowserImport(t *testing.T) {
	needBrowser(t)
	ctx := context.Background()
	k, dir := consoletest.KMC(t)
	if _, err := k.AddSupplyGroup(ctx, "operator:test", 123456, "Utility"); err != nil {
		t.Fatal(err)
	}
	st, origin := kmcConsole(t, k, dir, kmcconsole.Options{})
	alice := signIn(t, origin, st, "alice", role.Officer)
	bob := signIn(t, origin, st, "bob", role.Officer)
	part := func() (string, string) {
		v := make([]byte, 20)
		rand.Read(v)
		kcv, _ := keyagree.KCV(v)
		return hex.EncodeToString(v), hex.EncodeToString(kcv)
	}
	v1, kcv1 := part()
	v2, kcv2 := part()

	alice.call(chromedp.Navigate(origin+"/console/imports"), chromedp.WaitVisible(chromedp.ID("start-import")))
	alice.fill(map[string]string{"start-sgc": "123456", "start-krn": "1", "start-component": v1, "start-component-kcv": kcv1})
	alice.screenshot("console-kmc-imports", 1280)
	alice.eval(`document.getElementById("start-component-kcv").focus(), ""`)
	alice.pressOn("start-import")
	if got := alice.eval(stepDoneJS); !strings.Contains(got, "1 of 2") {
		t.Fatalf("alice's start: %q", got)
	}
	if got := alice.eval(`document.getElementById("start-component").value`); got != "" {
		t.Error("the component is still in its field after the step")
	}
	alice.noErrors("the import's start")
	pending, err := k.PendingImports(ctx, time.Now())
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending %+v, %v", pending, err)
	}
	id := pending[0].ID

	bob.call(chromedp.Navigate(origin+"/console/imports"), chromedp.WaitVisible(chromedp.ID("give-"+id)))
	if row := bob.text("#imports tbody"); !strings.Contains(row, "alice") || !strings.Contains(row, "1 of 2") || strings.Contains(strings.ToUpper(row), strings.ToUpper(v1)) {
		t.Errorf("the pending import's row: %q", row)
	}
	bob.fill(map[string]string{"component-" + id: v2, "component-" + id + "-kcv": kcv2})
	bob.eval(`document.getElementById("component-` + id + `-kcv").focus(), ""`)
	bob.pressOn("give-" + id)
	if got := bob.eval(stepDoneJS); !strings.Contains(got, "is complete") {
		t.Fatalf("bob's component: %q", got)
	}
	bob.noErrors("the import's component")
	if keys, err := k.VendingKeys(ctx); err != nil || len(keys) != 1 || keys[0].Origin != kmc.OriginImported {
		t.Errorf("keys %+v, %v", keys, err)
	}
	if !auditHas(t, st.Audit(), "officer:alice", "console.confirm") || !auditHas(t, st.Audit(), "officer:bob", "console.confirm") {
		t.Error("the confirmed steps are not audited")
	}
}
