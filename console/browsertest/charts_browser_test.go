package browsertest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/stskms/stskms/internal/role"
)

// chartsJS waits until every chart of the page has loaded and returns, per
// chart, "alt|natural width|rows of its table" on a line each.
const chartsJS = `Promise.all([...document.querySelectorAll(".chart img")].map(i => i.decode().then(() => i, () => i)))
	.then(imgs => imgs.map(i => i.alt + "|" + i.naturalWidth + "|" +
		i.closest("section").querySelectorAll("tbody tr").length).join("\n"))`

// TestBrowserCharts: the activity pages of the loop's KMC and module draw
// every chart (served SVG images, under the console's CSP, with no error
// reported), each with its alternative text and its table of numbers;
// the period is chosen with the form, by keyboard.
func TestBrowserCharts(t *testing.T) {
	needBrowser(t)
	shots := screenshotDir(t)
	want := map[string]int{"kmc": 4, "sm": 1}
	for _, s := range loopSites(t) {
		t.Run(s.name, func(t *testing.T) {
			tb := newTabFor(t, 2*time.Minute)
			tb.register(s.origin, enrol(t, s.st, "charts-auditor", role.Auditor))
			tb.call(chromedp.Navigate(s.origin+"/console/activity"), chromedp.WaitVisible(chromedp.CSS("h1")))
			tb.checkCharts(want[s.name], 24)
			if tb.eval(`document.querySelector('nav[aria-label="Console pages"] a[aria-current="page"]').pathname`) != "/console/activity" {
				t.Error("the activity page is not in the navigation")
			}
			tb.shoot(shots, s.name+"-activity-charts", wideWidth)
			tb.call(chromedp.Focus(chromedp.ID("period")))
			tb.call(chromedp.KeyEvent(kb.ArrowDown)) // the 30 days
			tb.call(chromedp.Focus(chromedp.CSS(`form.filter button`)), chromedp.KeyEvent("\r"))
			tb.call(chromedp.WaitVisible(chromedp.CSS(`img[src$="period=30d"]`)))
			tb.checkCharts(want[s.name], 30)
			tb.noErrors(s.name + " activity")
		})
	}
}

// checkCharts checks that the page shows n charts, each loaded and with a
// table of rows steps, and that it reported no error.
func (tb *tab) checkCharts(n, rows int) {
	tb.t.Helper()
	lines := strings.Split(tb.eval(chartsJS), "\n")
	if len(lines) != n {
		tb.t.Fatalf("%d charts, want %d: %q", len(lines), n, lines)
	}
	for _, l := range lines {
		f := strings.Split(l, "|")
		if len(f) != 3 || !strings.HasPrefix(f[0], "Chart of ") || f[1] == "0" || f[2] != strconv.Itoa(rows) {
			tb.t.Errorf("chart %q: want its alt text, a drawn image and %d rows", l, rows)
		}
	}
	tb.noErrors("charts")
}
