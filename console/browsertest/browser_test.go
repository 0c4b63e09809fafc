package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/console/kmcconsole"
	"github.com/stskms/stskms/console/smconsole"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// browser is the one Chromium of this test binary (nil: none, see skip).
var (
	browser context.Context
	skip    string
)

func TestMain(m *testing.M) {
	code := run(m)
	os.Exit(code)
}

// run starts one headless Chromium for all tests, runs them and stops it.
// Without Chromium the tests skip, except on CI (CI=true), where they fail.
func run(m *testing.M) int {
	path := chromiumPath()
	if path == "" {
		skip = "no chromium on this machine (apt-get install chromium); the console's browser tests did not run"
		return m.Run()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900),
		chromedp.Flag("no-proxy-server", true), chromedp.Flag("disable-gpu", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	alloc, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer stopAlloc()
	ctx, stop := chromedp.NewContext(alloc)
	defer stop()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		fmt.Fprintln(os.Stderr, "browsertest: chromium did not start:", err)
		return 1
	}
	browser = ctx
	return m.Run()
}

// chromiumPath finds Debian's chromium (its binary, not the wrapper
// script) or another Chromium or Chrome.
func chromiumPath() string {
	if _, err := os.Stat("/usr/lib/chromium/chromium"); err == nil {
		return "/usr/lib/chromium/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// needBrowser skips the test without a browser, or fails it on CI.
func needBrowser(t *testing.T) {
	t.Helper()
	if browser != nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(skip)
	}
	t.Skip(skip)
}

// tab is one browser tab in a browser context of its own (its own
// cookies), with a virtual passkey authenticator, collecting what the page
// reports as errors.
type tab struct {
	ctx    context.Context
	t      *testing.T
	mu     sync.Mutex
	errors []string
}

// newTab opens a tab with a virtual CTAP2 authenticator that holds
// resident keys and verifies its user (the DevTools WebAuthn domain).
func newTab(t *testing.T) *tab {
	t.Helper()
	return newTabFor(t, 60*time.Second)
}

// newTabFor is newTab for a tab that lives up to d (a long sweep).
func newTabFor(t *testing.T, d time.Duration) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, d)
	t.Cleanup(cancelT)
	tb := &tab{ctx: ctx, t: t}
	if err := chromedp.Listen(ctx, tb.listen); err != nil {
		t.Fatal(err)
	}
	tb.call(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, log.Enable, struct{}{}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
				Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
				HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return err
	}))
	return tb
}

// listen keeps every error the page reports: exceptions, console.error
// and the browser's own log entries of level error (CSP violations,
// failed loads).
func (tb *tab) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			msg = "console." + string(ev.Type)
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
			msg = "log: " + string(ev.Entry.Source) + ": " + ev.Entry.Text + " " + ev.Entry.URL
		}
	}
	if msg != "" {
		tb.mu.Lock()
		tb.errors = append(tb.errors, msg)
		tb.mu.Unlock()
	}
}

// takeErrors returns the errors reported so far and forgets them.
func (tb *tab) takeErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	e := tb.errors
	tb.errors = nil
	return e
}

// noErrors fails the test if the page reported an error.
func (tb *tab) noErrors(where string) {
	tb.t.Helper()
	if e := tb.takeErrors(); len(e) > 0 {
		tb.t.Errorf("%s: the page reported errors:\n%s", where, strings.Join(e, "\n"))
	}
}

func (tb *tab) call(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) eval(js string) string {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// pressOn presses Tab until the element of id has the focus (at most 32
// times), then Enter: the keyboard-only way to use a control.
func (tb *tab) pressOn(id string) {
	tb.t.Helper()
	for range 32 {
		tb.call(chromedp.KeyEvent("\t"))
		if tb.eval(`document.activeElement ? document.activeElement.id : ""`) == id {
			tb.call(chromedp.KeyEvent("\r"))
			return
		}
	}
	tb.t.Fatalf("#%s never got the focus by Tab", id)
}

// screenshot saves the page, at width px, in the test's temporary
// directory and, if STSKMS_SCREENSHOTS names one, there too.
func (tb *tab) screenshot(name string, width int64) {
	tb.t.Helper()
	var png []byte
	tb.call(chromedp.EmulateViewport(width, 900), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		var err error
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		return err
	}), chromedp.EmulateViewport(1280, 900))
	dirs := []string{tb.t.TempDir()}
	if d := os.Getenv("STSKMS_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
			tb.t.Error(err)
		}
	}
}

// serve serves the console of site on a loopback port, reached as
// http://localhost:PORT, and returns its origin.
func serve(t *testing.T, st *console.Store, site console.Site) string {
	t.Helper()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	origin := "http://localhost:" + u.Port()
	h, err := console.New(console.Config{Store: st, Site: site, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	return origin
}

// consoleStore opens the console's store on the database of a KMC or
// module directory, as `kmc serve` does.
func consoleStore(t *testing.T, dsn string) *console.Store {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := console.OpenStore(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// kmcConsole serves the console of the KMC k in dir, on its own database
// as `kmc serve` does, and returns the console's store and origin.
func kmcConsole(t *testing.T, k *kmc.KMC, dir string, opts kmcconsole.Options) (*console.Store, string) {
	t.Helper()
	dsn, err := kmc.DirDatabase(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := consoleStore(t, dsn)
	return st, serve(t, st, kmcconsole.Site(k, opts))
}

// smConsole serves the console of the module m in dir, on its own
// database as `sm serve` does, and returns the console's store and origin.
func smConsole(t *testing.T, m *sm.Module, dir string) (*console.Store, string) {
	t.Helper()
	info, err := sm.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := consoleStore(t, store.InDir(dir, info.Database))
	return st, serve(t, st, smconsole.Site(m))
}

// signIn opens a tab for a new account of name and role r on the console
// at origin, enrolled and signed in with its passkey by keyboard.
func signIn(t *testing.T, origin string, st *console.Store, name string, r role.Role) *tab {
	t.Helper()
	tb := newTab(t)
	tb.register(origin, enrol(t, st, name, r))
	return tb
}

// enrol makes a one-time enrolment path.
func enrol(t *testing.T, st *console.Store, name string, r role.Role) string {
	t.Helper()
	code, _, err := st.Enrol(context.Background(), "cli:test", name, r)
	if err != nil {
		t.Fatal(err)
	}
	return console.EnrolPath(code)
}

// register opens an enrolment path and registers the tab's passkey by
// keyboard alone; the overview follows.
func (tb *tab) register(origin, path string) {
	tb.t.Helper()
	tb.call(chromedp.Navigate(origin+path), chromedp.WaitVisible(chromedp.ID("passkey-register")))
	tb.pressOn("passkey-register")
	tb.call(chromedp.WaitVisible(chromedp.ID("signout")))
}

// postStatus POSTs form from the page (same origin, the session's cookie)
// and returns the answer's status.
func (tb *tab) postStatus(path string, form url.Values) string {
	tb.t.Helper()
	return tb.eval(fmt.Sprintf(`fetch(%q, {method: "POST", body: new URLSearchParams(%q), redirect: "manual"}).then(r => String(r.status))`,
		path, form.Encode()))
}

// auditHas reports whether the log holds a record of actor and action.
func auditHas(t *testing.T, l *audit.Log, actor, action string) bool {
	t.Helper()
	found := false
	if err := l.Records(context.Background(), 1, func(r audit.Record) error {
		found = found || r.Actor == actor && r.Action == action
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestBrowserKMC: an officer enrols through the one-time path and
// registers a passkey, by keyboard alone; the overview shows the KMC's key
// fingerprint; she signs out and in again with the passkey; the path does
// not work twice. An auditor is not offered the officer-only revoke and
// his POST of it, with the right CSRF token, is refused; a POST without
// the token is refused; every answer has the CSP, which blocks an inline
// script; no page reports an error; all of it is in the audit log.
func TestBrowserKMC(t *testing.T) {
	needBrowser(t)
	ctx := context.Background()
	k, dir := consoletest.KMC(t)
	if _, err := k.AddSupplyGroup(ctx, "operator:test", 123456, "Example Utility"); err != nil {
		t.Fatal(err)
	}
	st, origin := kmcConsole(t, k, dir, kmcconsole.Options{})
	key, err := k.CurrentKey(ctx)
	if err != nil {
		t.Fatal(err)
	}

	alice := newTab(t)
	alicePath := enrol(t, st, "alice", role.Officer)
	alice.register(origin, alicePath)
	if got := alice.text("#fingerprint"); got != key.Fingerprint.String() {
		t.Errorf("overview fingerprint %q, want %q", got, key.Fingerprint)
	}
	if got := alice.text("#count-sgc"); got != "1" {
		t.Errorf("supply groups %q, want 1", got)
	}
	if got := alice.text("#who"); !strings.Contains(got, "alice") || !strings.Contains(got, "officer") {
		t.Errorf("signed in as %q", got)
	}
	alice.screenshot("console-kmc-overview", 1280)
	alice.screenshot("console-kmc-overview-narrow", 390)
	alice.noErrors("enrolment and overview")

	// Sign out and in again, by keyboard.
	alice.pressOn("signout")
	alice.call(chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	alice.screenshot("console-signin", 1280)
	alice.pressOn("passkey-signin")
	alice.call(chromedp.WaitVisible(chromedp.ID("fingerprint")))
	alice.noErrors("sign-out and sign-in")

	// The enrolment path is spent.
	res, err := http.Get(origin + alicePath)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("second use of the enrolment path: %d", res.StatusCode)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// The auditor sees no revoke and may not POST it.
	carol := signIn(t, origin, st, "carol", role.Auditor)
	carol.call(chromedp.Navigate(origin+"/console/accounts"), chromedp.WaitVisible(chromedp.CSS("table")))
	if n := carol.eval(`String(document.querySelectorAll("button.danger").length)`); n != "0" {
		t.Errorf("the auditor is offered %s revoke buttons", n)
	}
	carol.screenshot("console-accounts-auditor", 1280)
	carol.noErrors("auditor's pages")
	csrf := carol.eval(`document.querySelector("input[name=csrf]").value`)
	if got := carol.postStatus("/console/accounts/revoke", url.Values{"name": {"alice"}, "csrf": {csrf}}); got != "403" {
		t.Errorf("auditor's revoke: status %s, want 403", got)
	}
	if got := carol.postStatus("/console/accounts/revoke", url.Values{"name": {"alice"}}); got != "403" {
		t.Errorf("revoke without a CSRF token: status %s, want 403", got)
	}
	for _, e := range carol.takeErrors() { // the browser logs the two refusals, nothing else
		if !strings.Contains(e, "403") {
			t.Errorf("unexpected page error: %s", e)
		}
	}

	// The officer sees the revoke; a POST of hers without the token is
	// refused, and alice is still signed in.
	alice.call(chromedp.Navigate(origin+"/console/accounts"), chromedp.WaitVisible(chromedp.ID("revoke-carol")))
	alice.screenshot("console-accounts-officer", 1280)
	if got := alice.postStatus("/console/accounts/revoke", url.Values{"name": {"carol"}}); got != "403" {
		t.Errorf("officer's revoke without a CSRF token: status %s, want 403", got)
	}
	alice.takeErrors()
	alice.pressOn("revoke-carol")
	alice.call(chromedp.WaitVisible(chromedp.ID("revoke-alice")))
	if n := alice.eval(`String(document.querySelectorAll("button.danger").length)`); n != "1" {
		t.Errorf("after revoking carol, %s revoke buttons, want 1", n)
	}
	alice.noErrors("revoke")
	// Carol's session ended with her account, and her passkey no longer
	// signs her in.
	carol.call(chromedp.Navigate(origin + "/console/"))
	carol.call(chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	carol.pressOn("passkey-signin")
	if _, err := chromedp.Run(carol.ctx, chromedp.Poll[bool](`document.getElementById("status").classList.contains("error")`)); err != nil {
		t.Fatal(err)
	}
	if got := carol.text("#status"); !strings.Contains(got, "refused") {
		t.Errorf("revoked carol's sign-in: %q", got)
	}
	if !auditHas(t, st.Audit(), "auditor:carol", "console.refused") {
		t.Error("the refused sign-in of a revoked account is not audited")
	}
	// The session cookie is out of the page's reach.
	if got := alice.eval(`document.cookie`); strings.Contains(got, "stskms_console") {
		t.Errorf("the page reads the session cookie: %q", got)
	}

	// The CSP blocks an inline script, and the browser reports it: the
	// error listener works.
	if got := alice.eval(`new Promise(done => {
		document.addEventListener("securitypolicyviolation", () => done("blocked"));
		const s = document.createElement("script"); s.textContent = "window.injected = 1"; document.body.appendChild(s);
		setTimeout(() => done(window.injected ? "ran" : "silent"), 2000);
	})`); got != "blocked" {
		t.Errorf("inline script: %s, want blocked", got)
	}
	time.Sleep(200 * time.Millisecond)
	if e := alice.takeErrors(); len(e) == 0 {
		t.Error("the CSP violation was not reported to the listener")
	}

	l := st.Audit()
	for _, want := range [][2]string{{"cli:test", "console.enrol"}, {"officer:alice", "console.passkey"},
		{"officer:alice", "console.signout"}, {"officer:alice", "console.signin"}, {"auditor:carol", "console.refused"},
		{"officer:alice", "console.refused"}, {"officer:alice", "console.revoke"}, {"officer:alice", "console.refused"}} {
		if !auditHas(t, l, want[0], want[1]) {
			t.Errorf("no audit record %s %s", want[0], want[1])
		}
	}
}

// TestBrowserModule: an auditor of a security module enrols and sees its
// identity, firmware identifiers, self-test state and KEK slots.
func TestBrowserModule(t *testing.T) {
	needBrowser(t)
	m, dir := consoletest.Module(t)
	if _, err := m.Selftest(context.Background(), sm.Auditor.As("test")); err != nil {
		t.Fatal(err)
	}
	st, origin := smConsole(t, m, dir)

	dave := signIn(t, origin, st, "dave", role.Auditor)
	if got := dave.text("#smid"); got != m.Identify().SMID.String() {
		t.Errorf("SMID %q, want %q", got, m.Identify().SMID)
	}
	if got := dave.text("#variant"); got != sm.Vending.String() {
		t.Errorf("variant %q", got)
	}
	if got := dave.text("#selftest"); got != "passed" {
		t.Errorf("self-test %q", got)
	}
	dave.screenshot("console-sm-identity", 1280)
	dave.noErrors("module identity")
}
