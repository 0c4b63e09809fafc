package browsertest

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/console/kmcconsole"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
)

// gatewayQueue makes a gateway queue in dir with two mails finished two
// days ago: 1 replied, 2 failed.
func gatewayQueue(t *testing.T, dir string) *gateway.Queue {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	gw, err := gateway.New(ctx, db, nil, nil, gateway.Config{Address: "kmc@kms.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: alice@example.com\r\nTo: kmc@kms.example.com\r\nSubject: {KMS:Help}\r\n\r\nHi\r\n")
	for i, state := range []string{gateway.StateReplied, gateway.StateFailed} {
		if _, err := gw.Accept(ctx, gateway.Envelope{From: "alice@example.com", To: []string{"kmc@kms.example.com"}}, raw); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE gateway_mail SET state = $2, done_ns = $3 WHERE id = $1`, i+1, state,
			time.Now().Add(-48*time.Hour).UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	return gw.Queue()
}

// TestBrowserGateway: an operator sees the gateway queue's counts and
// mails, retries the failed one, previews a purge (nothing deleted) and
// purges, by keyboard; an auditor is offered none of it and her POST of a
// retry, with her CSRF token, is refused 403; no page reports an error;
// the operator's changes are in the KMC's audit log with her name.
func TestBrowserGateway(t *testing.T) {
	needBrowser(t)
	ctx := context.Background()
	k, dir := consoletest.KMC(t)
	q := gatewayQueue(t, dir)
	st, origin := kmcConsole(t, k, dir, kmcconsole.Options{Queue: q})

	olga := signIn(t, origin, st, "olga", role.Operator)
	olga.call(chromedp.Navigate(origin+"/console/gateway"), chromedp.WaitVisible(chromedp.ID("retry-2")))
	if got := olga.text("#mail-counts tbody"); !strings.Contains(got, "1 mail") {
		t.Errorf("counts %q", got)
	}
	if n := olga.eval(`String(document.querySelectorAll("#entries tbody tr").length)`); n != "2" {
		t.Errorf("%s mails listed, want 2", n)
	}
	olga.screenshot("console-kmc-gateway", 1280)
	if got := olga.pressInMain("retry-2"); !strings.Contains(got, "Retried mail 2") {
		t.Errorf("after retry: %q", got)
	}
	olga.noErrors("gateway page and retry")

	// The preview deletes nothing and lists what would go: mail 1 (2 is
	// back in the queue).
	olga.call(chromedp.Navigate(origin+"/console/gateway?days=1"), chromedp.WaitVisible(chromedp.ID("purge")))
	if n := olga.eval(`String(document.querySelectorAll("#entries tbody tr[id]").length)`); n != "1" {
		t.Errorf("the preview lists %s mails, want 1", n)
	}
	if all, _ := q.List(ctx, ""); len(all) != 2 {
		t.Errorf("the preview deleted: %d mails left", len(all))
	}
	olga.screenshot("console-kmc-gateway-purge-preview", 1280)
	if got := olga.pressInMain("purge"); !strings.Contains(got, "Purged 1 mail") {
		t.Errorf("after purge: %q", got)
	}
	if all, _ := q.List(ctx, ""); len(all) != 1 || all[0].ID != 2 {
		t.Errorf("after purge: %+v", all)
	}
	olga.noErrors("purge")

	carol := signIn(t, origin, st, "carol", role.Auditor)
	carol.call(chromedp.Navigate(origin+"/console/gateway"), chromedp.WaitVisible(chromedp.ID("entries")))
	if n := carol.eval(`String(document.querySelectorAll("main form[method=post]").length)`); n != "0" {
		t.Errorf("the auditor is offered %s forms that change the queue", n)
	}
	carol.noErrors("auditor's gateway page")
	csrf := carol.eval(`document.querySelector("input[name=csrf]").value`)
	if got := carol.postStatus("/console/gateway/retryfailed", url.Values{"csrf": {csrf}}); got != "403" {
		t.Errorf("auditor's retry: status %s, want 403", got)
	}
	carol.takeErrors()
	for _, action := range []string{"gateway.retry", "gateway.purge"} {
		if !auditHas(t, k.AuditLog(), "operator:olga", action) {
			t.Errorf("the audit log has no %s by operator:olga", action)
		}
	}
}

// skipToMain follows the skip link, the first control of a page just
// loaded, by keyboard, past the navigation, so that pressOn reaches the
// page's own controls.
func (tb *tab) skipToMain() {
	tb.t.Helper()
	tb.call(chromedp.KeyEvent("\t"))
	if tb.eval(`document.activeElement ? document.activeElement.className : ""`) != "skip" {
		tb.t.Fatal("the first Tab did not reach the skip link")
	}
	tb.call(chromedp.KeyEvent("\r"))
}

// pressInMain presses the page's button id by keyboard, past the
// navigation (skipToMain), and returns the text of the page that answers
// (its main part, once its link shows).
func (tb *tab) pressInMain(id string) string {
	tb.t.Helper()
	tb.skipToMain()
	tb.pressOn(id)
	tb.call(chromedp.WaitVisible(chromedp.CSS("main a")))
	return tb.text("main")
}
