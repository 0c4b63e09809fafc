package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// testSecret is the secret field's value in the tests: it must never be
// kept.
const testSecret = "5EC2E7C0A1B2"

// confirmPage is the test site's "vault" page: its Confirm action "give"
// takes a secret "component" with its "kcv"; Describe refuses a form
// that carries the secret, Do records each call in e.
func confirmPage(e *approvalEnv) Page {
	none := func(context.Context, role.Actor, Query) (any, error) { return nil, nil }
	return Page{Path: "vault", Title: "Vault", Template: `{{define "content"}}<p>vault</p>{{end}}`, Data: none,
		Actions: []Action{{Name: "give", Op: "key.rotate", Confirm: true, Secret: []string{"component"},
			Describe: func(_ context.Context, c Call) (Operation, error) {
				if c.Form.Has("component") {
					return Operation{}, errors.New("the secret was given to Describe")
				}
				kcv := c.Form.Get("kcv")
				if kcv == "" {
					return Operation{}, BadInput("kcv", "missing")
				}
				return Operation{Kind: "test.component", Params: map[string]string{"kcv": kcv}, Words: "Give a component of KCV " + kcv}, nil
			},
			Do: func(_ context.Context, c Call) (string, error) {
				e.mu.Lock()
				defer e.mu.Unlock()
				e.calls = append(e.calls, c)
				return "component held", nil
			}}}}
}

// confirmBegin starts p's confirmed step with form (secrets removed by the
// caller, as the page's script does): the status, challenge and ceremony.
func (e *approvalEnv) confirmBegin(p *person, form url.Values) (int, string, *http.Cookie) {
	e.t.Helper()
	body, _ := json.Marshal(confirmBody{Form: form.Encode()})
	return e.beginAt(e.base, "/console/vault/give/begin", p, body)
}

// confirmFinish sends the whole form with a passkey answer.
func (e *approvalEnv) confirmFinish(p *person, form url.Values, ceremony *http.Cookie, answer []byte) int {
	e.t.Helper()
	body, _ := json.Marshal(confirmBody{Form: form.Encode(), Credential: answer})
	status, _, _ := e.request(e.base, "/console/vault/give/finish", p, body, ceremony)
	return status
}

// TestConfirmStep: a passkey-confirmed step runs only with the person's
// passkey signature of the digest of the form without its secrets, and
// gets the secret only then; the secret is in no ceremony or audit
// record. A plain POST of the form, a role Allow refuses, a form changed
// after the passkey signed, a signature of another ceremony, a ceremony
// used twice and a bad value are refused and run nothing.
func TestConfirmStep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newApprovalEnv(t, db)
		alice, carol := e.enrol("alice", role.Officer), e.enrol("carol", role.Auditor)
		open := url.Values{"kcv": {"ABCDEF"}}
		whole := url.Values{"kcv": {"ABCDEF"}, "component": {testSecret}}
		if res := post(t, e.base, "/console/vault/give", alice.cookie, url.Values{"kcv": {"ABCDEF"}, "component": {testSecret}, "csrf": {alice.csrf}}, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("the form posted without the passkey: %d, want 400", res.StatusCode)
		}
		if status, _, _ := e.confirmBegin(carol, open); status != http.StatusForbidden {
			t.Errorf("an auditor begins: %d, want 403", status)
		}
		if status, _, _ := e.confirmBegin(alice, url.Values{}); status != http.StatusBadRequest {
			t.Errorf("a form without its KCV: %d, want 400", status)
		}
		_, c1, cookie1 := e.confirmBegin(alice, open)
		answer1 := alice.auth.assert(t, e.base, c1)
		changed := url.Values{"kcv": {"012345"}, "component": {testSecret}}
		if got := e.confirmFinish(alice, changed, cookie1, answer1); got != http.StatusBadRequest {
			t.Errorf("a form changed after the passkey signed: %d, want 400", got)
		}
		_, c2, cookie2 := e.confirmBegin(alice, open)
		if got := e.confirmFinish(alice, whole, cookie2, answer1); got != http.StatusForbidden {
			t.Errorf("the signature of another ceremony: %d, want 403", got)
		}
		if got := e.confirmFinish(alice, whole, cookie2, alice.auth.assert(t, e.base, c2)); got != http.StatusBadRequest {
			t.Errorf("a ceremony used twice: %d, want 400", got)
		}
		if e.ncalls() != 0 {
			t.Fatalf("refused steps ran %d times", e.ncalls())
		}
		_, c3, cookie3 := e.confirmBegin(alice, open)
		if got := e.confirmFinish(alice, whole, cookie3, alice.auth.assert(t, e.base, c3)); got != http.StatusOK {
			t.Fatalf("alice's confirmed step: %d", got)
		}
		if e.ncalls() != 1 || e.calls[0].Form.Get("component") != testSecret || e.calls[0].Actor != role.Officer.As("alice") || len(e.calls[0].Digest) != 64 {
			t.Errorf("calls %+v", e.calls)
		}
		ctx := context.Background()
		var kept int
		if err := e.st.db.QueryRow(ctx, `SELECT COUNT(*) FROM console_ceremonies WHERE data LIKE $1`, "%"+testSecret+"%").Scan(&kept); err != nil || kept != 0 {
			t.Errorf("%d ceremonies hold the secret, %v", kept, err)
		}
		confirmed := false
		e.st.log.Records(ctx, 1, func(r audit.Record) error {
			text, _ := json.Marshal(r)
			if strings.Contains(string(text), testSecret) {
				t.Errorf("the audit record %s holds the secret", r.Action)
			}
			confirmed = confirmed || r.Action == "console.confirm" && r.Actor == "officer:alice"
			return nil
		})
		if !confirmed {
			t.Error("the confirmed step is not audited")
		}
	})
}
