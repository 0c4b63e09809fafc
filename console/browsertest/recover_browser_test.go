package browsertest

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
)

// rolledBackModule opens a test module on a copy of its database made
// before it last ran: in its error state, its database rolled back behind
// the kept audit checkpoint. It returns the module and its directory.
func rolledBackModule(t *testing.T) (*sm.Module, string) {
	t.Helper()
	m, dir := consoletest.ModuleBy(t, apitest.Setup)
	return consoletest.RolledBack(t, m, dir), dir
}

// TestBrowserRecover: a module in its error state for a rolled-back
// database shows it on its recovery page. Alice proposes accepting it
// twice, signing each proposal with her passkey; Bob reads the state the
// first accepts (the kept checkpoint and the log) and approves it with
// his: the module serves again, audited in both names. His approval of
// the second, made for a state the module is no longer in, is refused and
// changes nothing. An auditor is offered no form and cannot post one.
func TestBrowserRecover(t *testing.T) {
	needBrowser(t)
	m, dir := rolledBackModule(t)
	rb, _ := m.PendingRollback()
	st, origin := smConsole(t, m, dir)
	alice := signIn(t, origin, st, "alice", role.Officer)
	bob := signIn(t, origin, st, "bob", role.Officer)
	carol := signIn(t, origin, st, "carol", role.Auditor)

	carol.call(chromedp.Navigate(origin+"/console/recover"), chromedp.WaitVisible(chromedp.ID("rollback")))
	if carol.eval(`String(document.getElementById("accept-why") === null)`) != "true" {
		t.Error("an auditor is offered the acceptance")
	}
	csrf := carol.eval(`document.querySelector("input[name=csrf]").value`)
	if got := carol.postStatus("/console/recover/accept", map[string][]string{"csrf": {csrf}, "why": {"mine"}}); got != "403" {
		t.Errorf("an auditor's proposal: %s, want 403", got)
	}
	carol.takeErrors() // the refused post is logged as a failed load

	propose := func(why string) string {
		alice.call(chromedp.Navigate(origin+"/console/recover"), chromedp.WaitVisible(chromedp.ID("accept-why")))
		alice.call(chromedp.SendKeys(chromedp.ID("accept-why"), why))
		alice.pressOn("propose-accept")
		alice.call(chromedp.WaitVisible(chromedp.ID("passkey-approval")))
		return alice.signProposal()
	}
	alice.call(chromedp.Navigate(origin+"/console/"), chromedp.WaitVisible(chromedp.ID("recover-link")))
	alice.pressOn("recover-link")
	alice.call(chromedp.WaitVisible(chromedp.ID("accept-why")))
	if got := alice.text("#kept-size"); got == "" || !strings.Contains(alice.text("#rollback"), "rolled back") {
		t.Errorf("the recovery page shows %q, kept %q", alice.text("#rollback"), got)
	}
	alice.screenshot("console-sm-recover", 1280)
	first := propose("Restored from last night's backup after the disk failed; tokens reconciled.")
	second := propose("A second proposal for the same database.")
	alice.noErrors("the proposals")

	bob.call(chromedp.Navigate(origin+first), chromedp.WaitVisible(chromedp.ID("passkey-approval")))
	words := bob.text("#words")
	for _, want := range []string{"Accept the restored database", "rolled back", rb.LogHead, rb.KeptSHA256, "disk failed"} {
		if !strings.Contains(words, want) {
			t.Errorf("the proposal's words lack %q: %s", want, words)
		}
	}
	bob.screenshot("console-sm-recover-approve", 1280)
	bob.pressOn("passkey-approval")
	bob.call(chromedp.WaitVisible(chromedp.ID("outcome")))
	if got := bob.text("#outcome"); !strings.Contains(got, "serves again") {
		t.Errorf("outcome %q", got)
	}
	bob.noErrors("the approval")
	if f := m.Fault(); f != nil {
		t.Fatalf("the accepted module is still in its error state: %v", f)
	}
	l, err := m.Audit(sm.Auditor.As("carol"))
	if err != nil {
		t.Fatal(err)
	}
	if !auditHas(t, l, "officer:alice+bob", "sm.rollback.accept") || !auditHas(t, st.Audit(), "officer:bob", "console.approve") {
		t.Error("the acceptance is not audited in both names")
	}

	accepted := m.AcceptedRollback()
	bob.call(chromedp.Navigate(origin+second), chromedp.WaitVisible(chromedp.ID("passkey-approval")))
	bob.pressOn("passkey-approval")
	bob.call(chromedp.WaitVisible(chromedp.CSS(`#status.error`)))
	if got := bob.text("#status"); !strings.Contains(got, "nothing to accept") {
		t.Errorf("the stale approval says %q", got)
	}
	bob.takeErrors() // the refused approval is logged as a failed load
	bob.call(chromedp.Navigate(origin + second))
	if got := bob.text("#state"); got != "pending" {
		t.Errorf("the refused proposal is %q", got)
	}
	if m.AcceptedRollback() != accepted || m.Fault() != nil {
		t.Error("the stale approval changed the module")
	}
	bob.call(chromedp.Navigate(origin+"/console/recover"), chromedp.WaitVisible(chromedp.ID("accepted")))
	if bob.eval(`String(document.getElementById("accept-why") === null)`) != "true" {
		t.Error("the acceptance is offered with nothing to accept")
	}
	bob.noErrors("the recovery page")
}
