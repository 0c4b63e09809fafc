package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStore(t *testing.T, db *store.DB) (*Store, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	s, err := OpenStore(context.Background(), db, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

// auditActions returns "actor action subject" of every audit record.
func auditActions(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := s.log.Records(context.Background(), 1, func(r audit.Record) error {
		out = append(out, r.Actor+" "+r.Action+" "+r.Subject)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// enrolDone uses up code's enrolment as a registration would, with a
// stand-in passkey, and returns the new session id.
func enrolDone(t *testing.T, s *Store, code string, credID byte) (string, error) {
	t.Helper()
	ctx := context.Background()
	e, err := s.enrolmentOf(ctx, s.db, hashText(code))
	if err != nil {
		return "", err
	}
	var id string
	err = s.log.Tx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = s.addPasskey(ctx, tx, e, randomBytes(32), &webauthn.Credential{ID: []byte{credID, 1, 2, 3}})
		return err
	})
	return id, err
}

// TestEnrolment: a one-time code is valid 15 minutes, works once, is kept
// hashed, and every step is audited with the person's name.
func TestEnrolment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, c := newStore(t, db)
		ctx := context.Background()
		for _, bad := range []struct {
			name string
			r    role.Role
		}{{"", role.Officer}, {"a b", role.Officer}, {strings.Repeat("x", 65), role.Auditor}, {"eve", 0}, {"<script>", role.Officer}} {
			if _, _, err := s.Enrol(ctx, "cli:root", bad.name, bad.r); !errors.Is(err, ErrInvalid) {
				t.Errorf("Enrol(%q, %v) = %v, want ErrInvalid", bad.name, bad.r, err)
			}
		}
		code, expires, err := s.Enrol(ctx, "cli:root", "alice", role.Officer)
		if err != nil {
			t.Fatal(err)
		}
		if want := c.now().Add(EnrolmentLifetime); !expires.Equal(want) {
			t.Errorf("expires %v, want %v", expires, want)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM console_enrolments WHERE code_hash = $1`, []byte(code)).Scan(&n); err != nil || n != 0 {
			t.Errorf("the code is stored in the clear (%d, %v)", n, err)
		}
		if _, err := enrolDone(t, s, code, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := enrolDone(t, s, code, 2); !errors.Is(err, errEnrolment) {
			t.Errorf("second use of a code: %v, want errEnrolment", err)
		}
		pending, _, err := s.Enrol(ctx, "cli:root", "erin", role.Operator)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, "cli:root", "erin"); err != nil {
			t.Fatalf("revoking a pending enrolment: %v", err)
		}
		if _, err := enrolDone(t, s, pending, 4); !errors.Is(err, errEnrolment) {
			t.Errorf("revoked enrolment path: %v, want errEnrolment", err)
		}
		if err := s.Revoke(ctx, "cli:root", "nobody"); !errors.Is(err, ErrNoAccount) {
			t.Errorf("revoking nobody: %v, want ErrNoAccount", err)
		}
		late, _, err := s.Enrol(ctx, "cli:root", "bob", role.Auditor)
		if err != nil {
			t.Fatal(err)
		}
		c.add(EnrolmentLifetime)
		if _, err := enrolDone(t, s, late, 3); !errors.Is(err, errEnrolment) {
			t.Errorf("expired code: %v, want errEnrolment", err)
		}
		if _, _, err := s.Enrol(ctx, "cli:root", "alice", role.Auditor); !errors.Is(err, ErrAccount) {
			t.Errorf("alice as auditor: %v, want ErrAccount", err)
		}
		if err := s.Revoke(ctx, "cli:root", "alice"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Enrol(ctx, "cli:root", "alice", role.Officer); !errors.Is(err, ErrAccount) {
			t.Errorf("revoked alice again: %v, want ErrAccount", err)
		}
		if err := s.Revoke(ctx, "cli:root", "alice"); !errors.Is(err, ErrNoAccount) {
			t.Errorf("second revoke: %v, want ErrNoAccount", err)
		}
		accounts, err := s.Accounts(ctx)
		if err != nil || len(accounts) != 1 || accounts[0].Name != "alice" || accounts[0].Active() || accounts[0].Passkeys != 1 {
			t.Errorf("Accounts = %+v, %v", accounts, err)
		}
		got := strings.Join(auditActions(t, s), "\n")
		for _, want := range []string{"cli:root console.enrol officer:alice", "officer:alice console.passkey officer:alice",
			"cli:root console.enrol auditor:bob", "cli:root console.revoke officer:alice"} {
			if !strings.Contains(got, want) {
				t.Errorf("audit log lacks %q:\n%s", want, got)
			}
		}
	})
}

// TestSessionTimeouts: a session ends after the idle timeout, after the
// absolute one however busy, and at once when its account is revoked.
func TestSessionTimeouts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, c := newStore(t, db)
		ctx := context.Background()
		const idle, max = 15 * time.Minute, time.Hour
		newSession := func(name string, r role.Role) string {
			code, _, err := s.Enrol(ctx, "cli:root", name, r)
			if err != nil {
				t.Fatal(err)
			}
			id, err := enrolDone(t, s, code, name[0])
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		a := newSession("alice", role.Officer)
		for range 5 { // busy: 50 minutes, never idle
			c.add(10 * time.Minute)
			if _, err := s.session(ctx, a, idle, max); err != nil {
				t.Fatalf("busy session ended early: %v", err)
			}
		}
		c.add(11 * time.Minute) // 61 minutes old
		if _, err := s.session(ctx, a, idle, max); !errors.Is(err, errNoSession) {
			t.Errorf("session past the absolute timeout: %v", err)
		}
		b := newSession("bob", role.Auditor)
		c.add(idle + time.Second)
		if _, err := s.session(ctx, b, idle, max); !errors.Is(err, errNoSession) {
			t.Errorf("idle session: %v", err)
		}
		d := newSession("dave", role.Operator)
		if err := s.Revoke(ctx, "cli:root", "dave"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.session(ctx, d, idle, max); !errors.Is(err, errNoSession) {
			t.Errorf("session of a revoked account: %v", err)
		}
		if _, err := s.session(ctx, "not-a-session", idle, max); !errors.Is(err, errNoSession) {
			t.Errorf("unknown session: %v", err)
		}
	})
}

// testSite is a site with one page and the KMC-like rule that only an
// officer may revoke.
func testSite() Site {
	return Site{Name: "Test", Allow: func(a role.Actor, op string) error {
		if (op == OpRevoke || op == "secret.read") && a.Role != role.Officer {
			return errors.New("role")
		}
		return nil
	}, Pages: []Page{{Title: "Overview", Template: `{{define "content"}}<p id="hello">hello {{.Actor.Name}}</p>{{end}}`,
		Data: func(context.Context, role.Actor, Query) (any, error) { return nil, nil }}, {Path: "secret", Title: "Officers only",
		Op: "secret.read", Template: `{{define "content"}}<p id="secret">secret</p>{{end}}`,
		Data: func(context.Context, role.Actor, Query) (any, error) { return nil, nil },
		Actions: []Action{{Name: "poke", Op: "secret.read", Do: func(_ context.Context, c Call) (string, error) {
			if c.Form.Get("n") == "" {
				return "", BadInput("n", "missing")
			}
			return c.Actor.Name + " poked " + c.Form.Get("n"), nil
		}}, {Name: "fetch", Op: "secret.read", Download: fetch}}}}}
}

// testServer serves a console for the test site on db; sign returns a
// signed-in session cookie and CSRF token for a new account.
func testServer(t *testing.T, db *store.DB) (base string, s *Store, sign func(name string, r role.Role) (*http.Cookie, string)) {
	t.Helper()
	return siteServer(t, db, testSite())
}

// siteServer is testServer for site.
func siteServer(t *testing.T, db *store.DB, site Site) (base string, s *Store, sign func(name string, r role.Role) (*http.Cookie, string)) {
	t.Helper()
	s, _ = newStore(t, db)
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	base = "http://localhost:" + u.Port()
	h, err := New(Config{Store: s, Site: site, Origin: base})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	sign = func(name string, r role.Role) (*http.Cookie, string) {
		code, _, err := s.Enrol(context.Background(), "cli:root", name, r)
		if err != nil {
			t.Fatal(err)
		}
		id, err := enrolDone(t, s, code, name[0])
		if err != nil {
			t.Fatal(err)
		}
		sess, err := s.session(context.Background(), id, time.Hour, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Cookie{Name: sessionCookie, Value: id}, sess.csrf
	}
	return base, s, sign
}

// noRedirect is a client that reports redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// roundTrip sends req with the cookies (nil ones left out) by noRedirect,
// and returns the answer and its whole body; a failure to send ends the
// test.
func roundTrip(t *testing.T, req *http.Request, cookies ...*http.Cookie) (*http.Response, []byte) {
	t.Helper()
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(c)
		}
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func post(t *testing.T, base string, path string, c *http.Cookie, form url.Values, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, _ := roundTrip(t, req, c)
	return res
}

// TestCSRF: a state change without the session's CSRF token, with another
// session's, or sent from another site is refused, changes nothing and is
// audited; with the token it goes through.
func TestCSRF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, s, sign := testServer(t, db)
		alice, csrf := sign("alice", role.Officer)
		_, other := sign("bob", role.Officer)
		sign("carol", role.Auditor)
		for _, tc := range []struct {
			name string
			form url.Values
			hdr  map[string]string
		}{
			{"no token", url.Values{"name": {"carol"}}, nil},
			{"another session's token", url.Values{"name": {"carol"}, "csrf": {other}}, nil},
			{"cross-site", url.Values{"name": {"carol"}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
			{"other origin", url.Values{"name": {"carol"}, "csrf": {csrf}}, map[string]string{"Origin": "http://evil.example"}},
		} {
			if res := post(t, base, "/console/accounts/revoke", alice, tc.form, tc.hdr); res.StatusCode != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", tc.name, res.StatusCode)
			}
		}
		accounts, _ := s.Accounts(context.Background())
		for _, a := range accounts {
			if !a.Active() {
				t.Fatalf("%s was revoked by a refused request", a.Name)
			}
		}
		if got := strings.Join(auditActions(t, s), "\n"); strings.Count(got, "officer:alice console.refused /console/accounts/revoke") != 2 {
			t.Errorf("refusals not audited:\n%s", got)
		}
		if res := post(t, base, "/console/accounts/revoke", alice, url.Values{"name": {"carol"}, "csrf": {csrf}}, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoke with the token: status %d", res.StatusCode)
		}
		if res := post(t, base, "/console/signout", alice, url.Values{}, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("sign-out without the token: status %d", res.StatusCode)
		}
	})
}

// TestRoleRefused: an auditor is neither offered nor served a page the
// site's rules keep for officers, is not offered the officer-only revoke,
// and its POST of it, with a valid CSRF token, is refused by the site's
// rule; each refusal is audited.
func TestRoleRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, s, sign := testServer(t, db)
		sign("alice", role.Officer)
		carol, csrf := sign("carol", role.Auditor)
		req, _ := http.NewRequest(http.MethodGet, base+"/console/accounts", nil)
		req.AddCookie(carol)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, _ = io.Copy(&b, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || strings.Contains(b.String(), "Revoke") || !strings.Contains(b.String(), "alice") {
			t.Errorf("accounts page for an auditor: %d, offers revoke: %v", res.StatusCode, strings.Contains(b.String(), "Revoke"))
		}
		if strings.Contains(b.String(), "/console/secret") {
			t.Error("an auditor is offered the officers' page")
		}
		req, _ = http.NewRequest(http.MethodGet, base+"/console/secret", nil)
		req.AddCookie(carol)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("auditor reads the officers' page: %v %v", res.StatusCode, err)
		} else {
			res.Body.Close()
		}
		if res := post(t, base, "/console/accounts/revoke", carol, url.Values{"name": {"alice"}, "csrf": {csrf}}, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("auditor's revoke: status %d, want 403", res.StatusCode)
		}
		if a, _ := accountNamed(context.Background(), s.db, "alice"); !a.Active() {
			t.Error("the auditor revoked alice")
		}
		if got := strings.Join(auditActions(t, s), "\n"); !strings.Contains(got, "auditor:carol console.refused console.revoke") ||
			!strings.Contains(got, "auditor:carol console.refused secret.read") {
			t.Errorf("refusal not audited:\n%s", got)
		}
	})
}

// TestActions: a page's action runs for a role the site allows, with the
// CSRF token; it is refused (and audited) without the token, for another
// role and for an unknown action; a bad form value is a 400 naming the
// field.
func TestActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, s, sign := testServer(t, db)
		alice, csrf := sign("alice", role.Officer)
		carol, carolCSRF := sign("carol", role.Auditor)
		for _, tc := range []struct {
			name   string
			c      *http.Cookie
			path   string
			form   url.Values
			status int
		}{
			{"officer", alice, "/console/secret/poke", url.Values{"n": {"1"}, "csrf": {csrf}}, http.StatusOK},
			{"bad value", alice, "/console/secret/poke", url.Values{"csrf": {csrf}}, http.StatusBadRequest},
			{"no token", alice, "/console/secret/poke", url.Values{"n": {"1"}}, http.StatusForbidden},
			{"auditor", carol, "/console/secret/poke", url.Values{"n": {"1"}, "csrf": {carolCSRF}}, http.StatusForbidden},
			{"unknown action", alice, "/console/secret/nudge", url.Values{"csrf": {csrf}}, http.StatusNotFound},
			{"unknown page", alice, "/console/nowhere/poke", url.Values{"csrf": {csrf}}, http.StatusNotFound},
			{"signed out", nil, "/console/secret/poke", url.Values{"n": {"1"}}, http.StatusUnauthorized},
		} {
			if res := post(t, base, tc.path, tc.c, tc.form, nil); res.StatusCode != tc.status {
				t.Errorf("%s: status %d, want %d", tc.name, res.StatusCode, tc.status)
			}
		}
		got := strings.Join(auditActions(t, s), "\n")
		for _, want := range []string{"auditor:carol console.refused secret.read", "officer:alice console.refused secret.read",
			"officer:alice console.refused /console/secret/poke"} {
			if !strings.Contains(got, want) {
				t.Errorf("audit lacks %q:\n%s", want, got)
			}
		}
	})
}

// TestHeaders: every answer carries the CSP without inline script, no
// framing and the other headers; a request for another host is sent to
// the origin or refused; signed-out pages send to sign-in; unknown or
// used enrolment paths say nothing of why.
func TestHeaders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, _, _ := testServer(t, db)
		for _, path := range []string{"/console/", "/console/signin", "/console/static/console.js", "/console/nope", "/console/enrol/nope"} {
			res, err := noRedirect.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			h := res.Header
			if got := h.Get("Content-Security-Policy"); got != csp || strings.Contains(got, "unsafe") || !strings.Contains(got, "frame-ancestors 'none'") {
				t.Errorf("%s: CSP %q", path, got)
			}
			for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
				if h.Get(k) != v {
					t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), v)
				}
			}
		}
		res, _ := noRedirect.Get(base + "/console/")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/signin" {
			t.Errorf("signed-out overview: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		res, _ = noRedirect.Get(base + "/console/enrol/nope")
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("unknown enrolment path: %d", res.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/console/signin", nil)
		req.Host = "rebound.example"
		res, _ = noRedirect.Do(req)
		if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != base+"/console/signin" {
			t.Errorf("other host: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		req, _ = http.NewRequest(http.MethodPost, base+"/console/signin/begin", nil)
		req.Host = "rebound.example"
		res, _ = noRedirect.Do(req)
		if res.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("POST for another host: %d", res.StatusCode)
		}
	})
}

// TestNewRefusesBadConfig: an origin with a path or another scheme, and a
// site without pages, are refused.
func TestNewRefusesBadConfig(t *testing.T) {
	s := &Store{}
	for _, origin := range []string{"", "localhost:8081", "ftp://localhost", "http://localhost/console", "http://u@localhost"} {
		if _, err := New(Config{Store: s, Site: testSite(), Origin: origin}); err == nil {
			t.Errorf("origin %q accepted", origin)
		}
	}
	bad := testSite()
	bad.Pages[0].Path = "signin"
	if _, err := New(Config{Store: s, Site: bad, Origin: "http://localhost"}); err == nil {
		t.Error("a first page with a path accepted")
	}
	if _, err := New(Config{Store: s, Site: Site{Name: "x", Allow: testSite().Allow}, Origin: "http://localhost"}); err == nil {
		t.Error("a site without pages accepted")
	}
}

// TestCeremoniesBounded: anonymous sign-in begins cannot grow the
// ceremony table past its bound (503), and expired ones make room again;
// a ceremony works once and only for its kind.
func TestCeremoniesBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, s, _ := testServer(t, db)
		defer func(n int) { maxCeremonies = n }(maxCeremonies)
		maxCeremonies = 3
		status := func() int {
			res, err := http.Post(base+"/console/signin/begin", "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		for i := range 3 {
			if got := status(); got != http.StatusOK {
				t.Fatalf("begin %d: %d", i, got)
			}
		}
		if got := status(); got != http.StatusServiceUnavailable {
			t.Errorf("begin over the bound: %d, want 503", got)
		}
		ctx := context.Background()
		if _, err := s.saveCeremony(ctx, ceremonySignIn, nil, "{}"); !errors.Is(err, errBusy) {
			t.Fatalf("saveCeremony over the bound: %v", err)
		}
		s.now = func() time.Time { return time.Date(2026, 12, 6, 10, 6, 0, 0, time.UTC) } // past their 5 minutes
		id, err := s.saveCeremony(ctx, ceremonySignIn, nil, "{}")
		if err != nil {
			t.Fatalf("after expiry: %v", err)
		}
		if _, _, err := s.takeCeremony(ctx, id, ceremonyRegister); !errors.Is(err, errCeremony) {
			t.Errorf("ceremony of another kind: %v", err)
		}
		id, _ = s.saveCeremony(ctx, ceremonySignIn, nil, "{}")
		if _, _, err := s.takeCeremony(ctx, id, ceremonySignIn); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.takeCeremony(ctx, id, ceremonySignIn); !errors.Is(err, errCeremony) {
			t.Errorf("ceremony used twice: %v", err)
		}
	})
}

// TestFinishRefusesGarbage: a ceremony's finish without its cookie, or
// with a body that is no passkey answer, is a 400 that signs nobody in.
func TestFinishRefusesGarbage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, _, _ := testServer(t, db)
		finish := func(path string, c *http.Cookie, body string) *http.Response {
			req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, _ := roundTrip(t, req, c)
			return res
		}
		if res := finish("/console/signin/finish", nil, "{}"); res.StatusCode != http.StatusBadRequest {
			t.Errorf("finish without a ceremony: %d", res.StatusCode)
		}
		for _, body := range []string{"", "garbage", `{"id":"x","type":"public-key","response":{}}`, strings.Repeat("[", 100000)} {
			res, err := http.Post(base+"/console/signin/begin", "application/json", nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			var ceremony *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == ceremonyCookie {
					ceremony = c
				}
			}
			if ceremony == nil || !ceremony.HttpOnly || ceremony.SameSite != http.SameSiteStrictMode {
				t.Fatalf("ceremony cookie %+v", ceremony)
			}
			res = finish("/console/signin/finish", ceremony, body)
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("finish with %.20q: %d, want 400", body, res.StatusCode)
			}
			for _, c := range res.Cookies() {
				if c.Name == sessionCookie && c.Value != "" {
					t.Errorf("finish with %.20q signed someone in", body)
				}
			}
		}
		if res := finish("/console/enrol/nope/finish", nil, "{}"); res.StatusCode != http.StatusBadRequest {
			t.Errorf("enrol finish without a ceremony: %d", res.StatusCode)
		}
	})
}
