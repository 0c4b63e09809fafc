package browsertest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
)

// TestBrowserAudit: a module's auditor browses its audit log newest
// first, filters it, verifies the whole log by keyboard and downloads a
// signed checkpoint (an attachment that verifies with the module's
// published audit key); an operator is offered no audit page, and the
// page and the download are refused to him (403).
func TestBrowserAudit(t *testing.T) {
	needBrowser(t)
	m, dir := consoletest.Module(t)
	st, origin := smConsole(t, m, dir)

	carol := signIn(t, origin, st, "carol", role.Auditor)
	carol.call(chromedp.Navigate(origin+"/console/audit"), chromedp.WaitVisible(chromedp.ID("records")))
	if got := carol.text("#records tbody tr:first-child td:nth-child(4)"); got != "console.passkey" {
		t.Errorf("newest record's action %q, want console.passkey", got)
	}
	carol.screenshot("console-sm-audit", 1280)
	carol.noErrors("audit page")
	carol.pressOn("verify")
	carol.call(chromedp.WaitVisible(chromedp.ID("verify-result")))
	if got := carol.text("#verify-result"); got != "verified" {
		t.Errorf("verification %q", got)
	}
	carol.call(chromedp.Navigate(origin+"/console/audit?action=console.sign"), chromedp.WaitVisible(chromedp.ID("records")))
	if got := carol.text("#records tbody"); !strings.Contains(got, "No records match") {
		t.Errorf("filter console.sign before any sign-in: %q", got)
	}
	got := carol.eval(`fetch("/console/audit/checkpoint", {method: "POST",
		body: new URLSearchParams({csrf: document.querySelector("#checkpoint").form.csrf.value})}).then(async r =>
		r.status + "\n" + r.headers.get("Content-Disposition") + "\n" + await r.text())`)
	parts := strings.SplitN(got, "\n", 3)
	if len(parts) != 3 || parts[0] != "200" || !strings.HasPrefix(parts[1], `attachment; filename=audit-checkpoint-`) {
		t.Fatalf("checkpoint download: %q", got)
	}
	v, err := audit.NewVerifier(m.Identify().AuditKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenCheckpoint([]byte(parts[2]), v); err != nil {
		t.Errorf("downloaded checkpoint: %v", err)
	}
	carol.noErrors("audit verify and checkpoint")

	pos := signIn(t, origin, st, "pos", role.Operator)
	if n := pos.eval(`String(document.querySelectorAll('nav a[href="/console/audit"]').length)`); n != "0" {
		t.Error("the operator is offered the audit page")
	}
	if s := pos.eval(`fetch("/console/audit").then(r => String(r.status))`); s != "403" {
		t.Errorf("operator's audit page: %s, want 403", s)
	}
	csrf := pos.eval(`document.querySelector("form.signout").csrf.value`)
	if s := pos.postStatus("/console/audit/checkpoint", url.Values{"csrf": {csrf}}); s != "403" {
		t.Errorf("operator's checkpoint: %s, want 403", s)
	}
}
