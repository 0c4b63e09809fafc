package browsertest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/console/kmcconsole"
	"github.com/stskms/stskms/internal/role"
)

// proposeRotation proposes a new KMC key valid days from the trust page
// and signs the proposal with the tab's passkey, by keyboard; it returns
// the proposal's path.
func (tb *tab) proposeRotation(origin, days string) string {
	tb.t.Helper()
	tb.call(chromedp.Navigate(origin+"/console/trust"), chromedp.WaitVisible(chromedp.ID("lifetime-days")),
		chromedp.SendKeys(chromedp.ID("lifetime-days"), days))
	tb.pressOn("propose-rotate")
	tb.call(chromedp.WaitVisible(chromedp.ID("passkey-approval")))
	if got := tb.text("#state"); got != "draft" {
		tb.t.Fatalf("a new proposal is %q", got)
	}
	return tb.signProposal()
}

// signProposal signs the draft proposal the tab shows with its passkey,
// by keyboard, and returns the path of the proposal, then pending.
func (tb *tab) signProposal() string {
	tb.t.Helper()
	tb.pressOn("passkey-approval")
	tb.call(chromedp.WaitVisible(chromedp.ID("why"))) // the signed proposal says why its proposer may not approve it
	if got := tb.text("#state"); got != "pending" {
		tb.t.Fatalf("a signed proposal is %q", got)
	}
	return tb.eval(`location.pathname`)
}

// replayJS has the tab's passkey approve proposal FROM and sends that
// answer for proposal TO, with TO's own ceremony: it returns the status
// of the finish.
const replayJS = `(async () => {
  const csrf = %q;
  const call = async (url, body) => {
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body || {})});
    return {status: r.status, json: await r.json()};
  };
  const from = await call(%q + "/begin");
  const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(from.json.publicKey)});
  await call(%q + "/begin");
  const res = await call(%q + "/finish", cred.toJSON());
  return String(res.status);
})()`

// TestBrowserApproval: two officers in two browsers, each with their own
// passkey. Alice proposes a new KMC key and signs it; she is not offered
// the approval of her own proposal, and her attempt through the API is
// refused. Bob's passkey approval of one proposal, sent for another, is
// refused. Bob approves the first: the key is rotated in both names, and
// the audit log says so with the digest.
func TestBrowserApproval(t *testing.T) {
	needBrowser(t)
	ctx := context.Background()
	k, dir := consoletest.KMC(t)
	st, origin := kmcConsole(t, k, dir, kmcconsole.Options{})

	alice := signIn(t, origin, st, "alice", role.Officer)
	bob := signIn(t, origin, st, "bob", role.Officer)

	alice.call(chromedp.Navigate(origin+"/console/trust"), chromedp.WaitVisible(chromedp.ID("lifetime-days")))
	alice.screenshot("console-kmc-trust", 1280)
	alice.screenshot("console-kmc-trust-narrow", 390)
	first := alice.proposeRotation(origin, "30")
	alice.screenshot("console-approval-proposed", 1280)
	if alice.eval(`String(document.getElementById("passkey-approval") === null)`) != "true" ||
		!strings.Contains(alice.text("#why"), "different officer") {
		t.Error("alice is offered the approval of her own proposal")
	}
	csrf := alice.eval(`document.querySelector("input[name=csrf]").value`)
	own := alice.eval(fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"X-CSRF-Token": %q}}).then(r => String(r.status))`,
		first+"/begin", csrf))
	if own != "403" {
		t.Errorf("alice's own approval: %s, want 403", own)
	}
	alice.takeErrors() // the refused fetch is logged as a failed load
	second := alice.proposeRotation(origin, "60")
	alice.noErrors("proposals")

	bob.call(chromedp.Navigate(origin + "/console/approvals"))
	bob.call(chromedp.WaitVisible(chromedp.CSS(`a[href="` + first + `"]`)))
	bob.screenshot("console-approvals", 1280)
	bobCSRF := bob.eval(`(document.querySelector("input[name=csrf]") || {}).value || ""`)
	if bobCSRF == "" {
		t.Fatal("no CSRF token on the approvals page")
	}
	if got := bob.eval(fmt.Sprintf(replayJS, bobCSRF, first, second, second)); got != "403" {
		t.Errorf("bob's approval of the first proposal sent for the second: %s, want 403", got)
	}
	bob.takeErrors() // the refused fetch is logged as a failed load
	if key, _ := k.CurrentKey(ctx); key.Seq != 1 {
		t.Fatalf("a replayed approval rotated the key: key %d", key.Seq)
	}

	bob.call(chromedp.Navigate(origin+first), chromedp.WaitVisible(chromedp.ID("passkey-approval")))
	if got := bob.text("#proposer"); got != "alice" {
		t.Errorf("proposer %q", got)
	}
	bob.screenshot("console-approval-approve", 1280)
	bob.pressOn("passkey-approval")
	bob.call(chromedp.WaitVisible(chromedp.ID("outcome")))
	if got := bob.text("#state"); got != "approved" {
		t.Errorf("the approved proposal is %q", got)
	}
	if got := bob.text("#outcome"); !strings.Contains(got, "New KMC key 2") {
		t.Errorf("outcome %q", got)
	}
	bob.noErrors("approval")
	key, err := k.CurrentKey(ctx)
	if err != nil || key.Seq != 2 || key.CreatedBy != "officer:alice+bob" {
		t.Errorf("current key %d by %q, %v", key.Seq, key.CreatedBy, err)
	}
	if !auditHas(t, k.AuditLog(), "officer:alice+bob", "kmc.key.generate") || !auditHas(t, st.Audit(), "officer:bob", "console.approve") ||
		!auditHas(t, st.Audit(), "officer:alice", "console.propose") {
		t.Error("the approval is not in the audit log")
	}
	if got := bob.eval(fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"X-CSRF-Token": %q}}).then(r => String(r.status))`,
		first+"/begin", bobCSRF)); got != "409" {
		t.Errorf("a second approval: %s, want 409", got)
	}
}
