package browsertest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
)

// TestBrowserKLFLoad: an officer pastes a Key Load File of 25 keys into
// the module's console and proposes its load, signing it with her
// passkey; a different officer sees what it loads (supply groups and
// KCVs) and the file's SHA-256 on the proposal and approves it with his:
// the 25 registers are loaded in both names. No page reports an error.
func TestBrowserKLFLoad(t *testing.T) {
	needBrowser(t)
	ctx := context.Background()
	m, dir := consoletest.ModuleBy(t, apitest.New)
	kmc, _, req, err := apitest.Waiting(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	file, err := apitest.KeyLoadFile(kmc, req, 200001, 25)
	if err != nil {
		t.Fatal(err)
	}
	st, origin := smConsole(t, m, dir)
	alice := signIn(t, origin, st, "alice", role.Officer)
	bob := signIn(t, origin, st, "bob", role.Officer)

	alice.call(chromedp.Navigate(origin+"/console/klfload"), chromedp.WaitVisible(chromedp.ID("load-klf")))
	text, _ := json.Marshal(file)
	alice.eval(`const f = document.getElementById("load-klf"); f.value = ` + string(text) + `; f.focus(), ""`)
	alice.screenshot("console-sm-klfload", 1280)
	alice.pressOn("propose-load")
	alice.call(chromedp.WaitVisible(chromedp.ID("passkey-approval")))
	proposal := alice.signProposal()
	alice.noErrors("the load's proposal")

	bob.call(chromedp.Navigate(origin+proposal), chromedp.WaitVisible(chromedp.ID("passkey-approval")))
	words := bob.text("#words")
	for _, want := range []string{"KEK slot 1", "25 keys", "SGC 200001 KRN 1", "SGC 200025 KRN 1", "KCV "} {
		if !strings.Contains(words, want) {
			t.Errorf("the proposal's words lack %q: %s", want, words)
		}
	}
	bob.screenshot("console-sm-klfload-approve", 1280)
	if regs, _ := m.Registers(ctx, sm.Officer.As("bob")); len(regs) != 0 {
		t.Fatalf("%d registers before the approval", len(regs))
	}
	bob.pressOn("passkey-approval")
	bob.call(chromedp.WaitVisible(chromedp.ID("outcome")))
	if got := bob.text("#outcome"); !strings.Contains(got, "25 registers") {
		t.Errorf("outcome %q", got)
	}
	bob.noErrors("the load's approval")
	if regs, err := m.Registers(ctx, sm.Officer.As("bob")); err != nil || len(regs) != 25 {
		t.Errorf("%d registers after the approval, %v", len(regs), err)
	}
	l, err := m.Audit(sm.Auditor.As("carol"))
	if err != nil {
		t.Fatal(err)
	}
	if !auditHas(t, l, "officer:alice+bob", "klf.load") || !auditHas(t, st.Audit(), "officer:bob", "console.approve") {
		t.Error("the load is not audited in both names")
	}
}
