package browsertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/console/kmcconsole"
	"github.com/stskms/stskms/internal/role"
)

// TestKeyboard uses the KMC's console with the keyboard alone: the skip
// link's Enter moves the focus to the page's main part; an officer signs
// out and in again (the sign-in button reached by Tab and pressed with
// Enter, the virtual authenticator answering); reaches the accounts page
// by Tab and Enter on the navigation; and revokes another account by Tab
// and Enter on its form's button.
func TestKeyboard(t *testing.T) {
	needBrowser(t)
	k, dir := consoletest.KMC(t)
	st, origin := kmcConsole(t, k, dir, kmcconsole.Options{})
	signIn(t, origin, st, "bob", role.Operator)

	eve := newTabFor(t, 2*time.Minute)
	eve.register(origin, enrol(t, st, "eve", role.Officer)) // by keyboard (pressOn)

	// The skip link is the first stop of Tab; Enter on it focuses main.
	eve.call(chromedp.Navigate(origin+"/console/"), chromedp.WaitVisible(chromedp.CSS("h1")))
	eve.call(chromedp.KeyEvent("\t"))
	if got := eve.eval(`String(document.activeElement.className === "skip" && document.activeElement.getBoundingClientRect().left >= 0)`); got != "true" {
		t.Errorf("the first Tab stop is not the skip link, in sight")
	}
	eve.call(chromedp.KeyEvent("\r"))
	if got := eve.eval(`document.activeElement.id`); got != "main" {
		t.Errorf("after Enter on the skip link the focus is on %q, want main", got)
	}

	// Sign out and in again by keyboard.
	eve.call(chromedp.Navigate(origin+"/console/"), chromedp.WaitVisible(chromedp.CSS("h1")))
	eve.pressOnSelector("#signout")
	eve.call(chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	eve.pressOn("passkey-signin")
	eve.call(chromedp.WaitVisible(chromedp.ID("signout")))

	// The navigation by Tab and Enter.
	eve.pressOnSelector(`nav a[href="/console/accounts"]`)
	eve.call(chromedp.WaitVisible(chromedp.ID("revoke-bob")))
	if got := eve.eval(`location.pathname + " " + document.querySelector("nav a[aria-current=page]").pathname`); got != "/console/accounts /console/accounts" {
		t.Errorf("after Enter on the navigation's Accounts: %q", got)
	}

	// A form by Tab and Enter: revoke bob.
	eve.pressOnSelector("#revoke-bob")
	eve.call(chromedp.WaitVisible(chromedp.ID("revoke-eve")))
	if n := eve.eval(`String(document.querySelectorAll("#revoke-bob").length)`); n != "0" {
		t.Error("bob can still be revoked after the keyboard's revoke")
	}
	if !auditHas(t, st.Audit(), "officer:eve", "console.revoke") {
		t.Error("the revoke is not audited with eve's name")
	}
	eve.noErrors("keyboard")
}

// pressOnSelector presses Tab until the element sel matches has the
// focus (at most 60 times: the navigation grows), then Enter.
func (tb *tab) pressOnSelector(sel string) {
	tb.t.Helper()
	for range 60 {
		tb.call(chromedp.KeyEvent("\t"))
		if tb.eval(fmt.Sprintf(`String(document.activeElement === document.querySelector(%q))`, sel)) == "true" {
			tb.call(chromedp.KeyEvent("\r"))
			return
		}
	}
	tb.t.Fatalf("%s never got the focus by Tab", sel)
}
