package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/kmcconsole"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// The widths every page is checked and photographed at: a desktop window
// and a phone held upright.
const (
	wideWidth   = 1280
	narrowWidth = 390
)

// sweptSite is one console the sweep visits: its name in file names, its
// origin and its store (to enrol people).
type sweptSite struct {
	name   string
	origin string
	st     *console.Store
}

// loopSites runs the whole loop (package loop) in a directory of the test
// and serves the consoles of its KMC (with the gateway's queue) and of its
// vending module, so that every page has something to show.
func loopSites(t *testing.T) []sweptSite {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "loop")
	steps, err := loop.Run(ctx, loop.Options{Dir: dir})
	if err != nil || loop.Failed(steps) {
		t.Fatalf("the loop: %v %+v", err, steps)
	}
	kdir := filepath.Join(dir, "kmc")
	k, err := kmc.OpenDir(ctx, kdir, kmc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	gwDB, err := store.Open(ctx, "sqlite:"+filepath.Join(kdir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gwDB.Close() })
	q, err := gateway.OpenQueue(ctx, gwDB, gateway.Config{})
	if err != nil {
		t.Fatal(err)
	}
	kst, korigin := kmcConsole(t, k, kdir, kmcconsole.Options{Queue: q})

	sdir := filepath.Join(dir, "sm-vending")
	m, err := sm.Open(ctx, sdir, sm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	sst, sorigin := smConsole(t, m, sdir)
	return []sweptSite{{"kmc", korigin, kst}, {"sm", sorigin, sst}}
}

// pageCheck is what the sweep reads from a page (sweepJS).
type pageCheck struct {
	Path       string   `json:"path"`
	H1         string   `json:"h1"`
	Unlabelled []string `json:"unlabelled"`
	BadTables  []string `json:"badTables"`
	Unwrapped  []string `json:"unwrapped"`
	BareTimes  []string `json:"bareTimes"`
	Forms      []form   `json:"forms"`
}

// form is a POST form of a page: its action and fields.
type form struct {
	Action string     `json:"action"`
	Fields url.Values `json:"fields"`
}

// sweepJS reads a page: its h1; the controls without a label (no <label>,
// aria-label or aria-labelledby) and the buttons without words; the tables without a caption or a th;
// the tables not inside a .table-wrap (which scrolls them on a narrow
// window); the times shown without their zone; and the page's POST forms
// with their fields.
const sweepJS = `JSON.stringify({
	path: location.pathname,
	h1: (document.querySelector("h1") || {textContent: ""}).textContent.trim(),
	unlabelled: [...document.querySelectorAll("input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea")]
		.filter(e => e.labels.length === 0 && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby"))
		.concat([...document.querySelectorAll("button, input[type=submit], input[type=button]")]
			.filter(b => !(b.textContent.trim() || b.value || b.getAttribute("aria-label"))))
		.map(e => e.outerHTML.slice(0, 120)),
	badTables: [...document.querySelectorAll("table")]
		.filter(t => !t.caption || !t.caption.textContent.trim() || !t.querySelector("th"))
		.map(t => t.outerHTML.slice(0, 120)),
	unwrapped: [...document.querySelectorAll("table")].filter(t => !t.closest(".table-wrap"))
		.map(t => (t.caption ? t.caption.textContent : t.outerHTML).slice(0, 80)),
	bareTimes: [...document.body.innerText.matchAll(/\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?(\.\d+)?( ?UTC|Z|[+-]\d\d:?\d\d)?/g)]
		.filter(m => !m[3]).map(m => m[0]),
	forms: [...document.querySelectorAll("form")].filter(f => f.method === "post")
		.map(f => {
			const fields = {};
			for (const [k, v] of new FormData(f)) (fields[k] = fields[k] || []).push(String(v));
			return {action: new URL(f.action).pathname, fields};
		}),
})`

// overflowJS reports whether the page is wider than the window (it then
// scrolls sideways as a whole), with the widest elements to blame.
const overflowJS = `(() => {
	const d = document.documentElement;
	if (d.scrollWidth <= d.clientWidth) return "";
	const wide = [...document.body.querySelectorAll("*")]
		.filter(e => e.getBoundingClientRect().right > d.clientWidth + 1 && !(e.parentElement && e.parentElement.closest(".table-wrap")))
		.map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : ""));
	return d.scrollWidth + " px wide in " + d.clientWidth + " px: " + wide.slice(0, 6).join(", ");
})()`

// sweepRoles are the roles in the order the sweep signs them in.
var sweepRoles = []role.Role{role.Officer, role.Operator, role.Auditor}

// TestSweep signs in to the KMC's and the module's consoles (after a run
// of the whole loop) as an officer, an operator and an auditor, and
// follows every link of each one's navigation, read from the page, so
// pages added later are swept too. Every page has an h1, labels on its
// controls and words on its buttons, a caption and header cells in its
// tables (each in a .table-wrap), the zone with every time it shows;
// reports no error in the browser; and is photographed at 1280 px and
// 390 px wide, where it must not scroll sideways as a whole (a table
// scrolls inside its .table-wrap). Then every POST form one role is shown
// and another is not is POSTed by the other, with their own CSRF token:
// refused (403) — a role that may not do something neither sees nor can
// do it. A picture of every page goes to $STSKMS_SCREENSHOTS when it
// names a directory (docs/console.md).
func TestSweep(t *testing.T) {
	needBrowser(t)
	shots := screenshotDir(t)
	for _, s := range loopSites(t) {
		t.Run(s.name, func(t *testing.T) { sweepSite(t, s, shots) })
	}
}

// screenshotDir is where the pictures of every page go: $STSKMS_SCREENSHOTS
// (made if need be; a relative path is from the module's root, as in
// `STSKMS_SCREENSHOTS=docs/console go test ./console/browsertest/`) or a
// temporary directory.
func screenshotDir(t *testing.T) string {
	d := os.Getenv("STSKMS_SCREENSHOTS")
	if d == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(d) {
		d = filepath.Join("..", "..", d)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// sweepSite sweeps one site for each role, then checks its forms.
func sweepSite(t *testing.T, s sweptSite, shots string) {
	paths := map[role.Role]string{}
	for _, r := range sweepRoles { // all enrolled first: every role sees the same accounts
		paths[r] = enrol(t, s.st, "sweep-"+r.String(), r)
	}
	tabs := map[role.Role]*tab{}
	seen := map[string]map[role.Role]form{} // form action -> role -> form
	pics := &pictures{docs: shots, others: t.TempDir(), taken: map[string]bool{}}
	for _, r := range sweepRoles {
		tb := newTabFor(t, 5*time.Minute)
		tabs[r] = tb
		tb.register(s.origin, paths[r])
		tb.noErrors(r.String() + ": enrolment")
		for _, p := range tb.sweepNav(s, r, pics) {
			for _, f := range p.Forms {
				if seen[f.Action] == nil {
					seen[f.Action] = map[role.Role]form{}
				}
				seen[f.Action][r] = f
			}
		}
	}
	checked := checkHiddenForms(t, s, tabs, seen)
	if checked == 0 {
		t.Errorf("%s: no form is shown to one role and hidden from another", s.name)
	}
	t.Logf("%s: %d pages (as %d roles), %d POSTs of hidden forms", s.name, len(pics.taken), len(sweepRoles), checked)
}

// sweepNav visits every page of the navigation as role r and returns what
// it read from each.
func (tb *tab) sweepNav(s sweptSite, r role.Role, pics *pictures) []pageCheck {
	tb.t.Helper()
	tb.call(chromedp.Navigate(s.origin+"/console/"), chromedp.WaitVisible(chromedp.CSS("h1")))
	var links []string
	if err := json.Unmarshal([]byte(tb.eval(`JSON.stringify([...document.querySelectorAll('nav[aria-label="Console pages"] a')].map(a => a.pathname))`)), &links); err != nil {
		tb.t.Fatal(err)
	}
	if len(links) < 2 {
		tb.t.Fatalf("%s %s: navigation %v", s.name, r, links)
	}
	var pages []pageCheck
	for _, link := range links {
		pages = append(pages, tb.checkPage(s, r, link, pics))
	}
	return pages
}

// checkPage opens path and checks it (see TestSweep).
func (tb *tab) checkPage(s sweptSite, r role.Role, path string, pics *pictures) pageCheck {
	tb.t.Helper()
	where := fmt.Sprintf("%s %s %s", s.name, r, path)
	tb.call(chromedp.Navigate(s.origin+path), chromedp.WaitVisible(chromedp.CSS("h1")))
	var p pageCheck
	if err := json.Unmarshal([]byte(tb.eval(sweepJS)), &p); err != nil {
		tb.t.Fatalf("%s: %v", where, err)
	}
	if p.Path != path {
		tb.t.Errorf("%s: landed on %s", where, p.Path)
	}
	if p.H1 == "" {
		tb.t.Errorf("%s: no h1", where)
	}
	for _, e := range p.Unlabelled {
		tb.t.Errorf("%s: control without a label: %s", where, e)
	}
	for _, e := range p.BadTables {
		tb.t.Errorf("%s: table without a caption or header cells: %s", where, e)
	}
	for _, e := range p.BareTimes {
		tb.t.Errorf("%s: a time without its zone: %q", where, e)
	}
	for _, e := range p.Unwrapped {
		tb.t.Errorf("%s: table %q not in a .table-wrap (it widens the page on a narrow window)", where, e)
	}
	dir, name := pics.place(s.name+"-"+pageName(path), r)
	tb.shoot(dir, name, wideWidth)
	if o := tb.shoot(dir, name+"-narrow", narrowWidth); o != "" {
		tb.t.Errorf("%s: at %d px the page scrolls sideways: %s", where, narrowWidth, o)
	}
	tb.noErrors(where)
	return p
}

// pictures is where the sweep's pictures go: each page's, as the first
// role that sees it (officer, operator, auditor), to docs
// ($STSKMS_SCREENSHOTS or a temporary directory) as SITE-PAGE.png and
// SITE-PAGE-narrow.png; the others' to a temporary directory, named with
// the role too.
type pictures struct {
	docs, others string
	taken        map[string]bool
}

// place returns the directory and file name of the pictures of page
// (SITE-PAGE) as seen by r.
func (p *pictures) place(page string, r role.Role) (dir, name string) {
	if !p.taken[page] {
		p.taken[page] = true
		return p.docs, page
	}
	return p.others, page + "-" + r.String()
}

// pageName is a page's path as a file name: "/console/" is "overview",
// "/console/audit" "audit".
func pageName(path string) string {
	n := strings.Trim(strings.TrimPrefix(path, "/console"), "/")
	if n == "" {
		return "home"
	}
	return regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(strings.ToLower(n), "-")
}

// shoot sets the window to width px, writes a full-page picture to
// dir/name.png and returns what overflowJS says of the page at that
// width; the window is 1280 px again after.
func (tb *tab) shoot(dir, name string, width int64) string {
	tb.t.Helper()
	var png []byte
	var overflow string
	tb.call(chromedp.EmulateViewport(width, 900), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		var err error
		if overflow, err = chromedp.Run(ctx, chromedp.Evaluate[string](overflowJS)); err != nil {
			return err
		}
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		return err
	}), chromedp.EmulateViewport(wideWidth, 900))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Error(err)
	}
	return overflow
}

// checkHiddenForms POSTs, for every form a role was shown, the same
// fields as every role that was not shown it, with that role's own CSRF
// token; each must be refused with 403 and the page report nothing but
// that refusal. It returns how many POSTs it checked.
func checkHiddenForms(t *testing.T, s sweptSite, tabs map[role.Role]*tab, seen map[string]map[role.Role]form) int {
	t.Helper()
	actions := make([]string, 0, len(seen))
	for a := range seen {
		actions = append(actions, a)
	}
	slices.Sort(actions)
	checked := 0
	for _, action := range actions {
		byRole := seen[action]
		var shown form
		for _, r := range sweepRoles {
			if f, ok := byRole[r]; ok {
				shown = f
				break
			}
		}
		for _, r := range sweepRoles {
			if _, ok := byRole[r]; ok {
				continue
			}
			tb := tabs[r]
			tb.call(chromedp.Navigate(s.origin+"/console/"), chromedp.WaitVisible(chromedp.CSS("h1")))
			fields := url.Values{}
			for k, v := range shown.Fields {
				fields[k] = v
			}
			fields.Set("csrf", tb.eval(`document.querySelector("input[name=csrf]").value`))
			if got := tb.postStatus(action, fields); got != "403" {
				t.Errorf("%s: %s is not shown %s but its POST answers %s, want 403", s.name, r, action, got)
			}
			for _, e := range tb.takeErrors() {
				if !strings.Contains(e, "403") {
					t.Errorf("%s %s POST %s: unexpected page error: %s", s.name, r, action, e)
				}
			}
			checked++
		}
	}
	return checked
}
