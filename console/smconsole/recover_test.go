package smconsole

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
)

// rolledBackIn is loadedIn's module, opened again on a copy of its
// database made before it last ran: it is in its error state, its
// database rolled back behind the kept audit checkpoint.
func rolledBackIn(t *testing.T) (*sm.Module, string) {
	t.Helper()
	m, dir := loadedIn(t)
	return consoletest.RolledBack(t, m, dir), dir
}

// formOf is an operation's parameters as the form Do gets on approval.
func formOf(o console.Operation) url.Values {
	f := url.Values{}
	for k, v := range o.Params {
		f.Set(k, v)
	}
	return f
}

// TestRecoverDualControl: the recovery page of a module in its error
// state for a rolled-back database describes the acceptance with the
// state it accepts (the kept checkpoint and the log as the module found
// them) and the officers' words, refuses a form without them naming the
// field, and on approval accepts only for two different officers, audited
// as "officer:A+B", after which the module serves again without a
// restart; a proposal for another state, or approved once the state
// changed, is refused (409) and changes nothing.
func TestRecoverDualControl(t *testing.T) {
	ctx := context.Background()
	m, _ := rolledBackIn(t)
	page := recoverPage(m)
	if page.Path != "recover" || len(page.Actions) != 1 || !page.Actions[0].Dual || page.Actions[0].Op != "rollback.accept" {
		t.Fatalf("page %q, actions %+v", page.Path, page.Actions)
	}
	accept := page.Actions[0]
	rec := recoveryOf(m)
	if !rec.Pending || rec.Fault == "" || rec.Rollback.Kind != "rolled back" || rec.Rollback.KeptSize <= rec.Rollback.LogSize {
		t.Fatalf("recovery page %+v", rec)
	}
	if _, err := m.Registers(ctx, operator); !errors.Is(err, sm.ErrSelfTest) {
		t.Fatalf("the rolled-back module serves: %v", err)
	}
	if id, err := identityOf(ctx, m, auditor); err != nil || !id.RolledBack {
		t.Errorf("the identity page does not lead to the recovery: %+v, %v", id, err)
	}
	for _, bad := range []url.Values{{}, {"why": {"  "}}, {"why": {strings.Repeat("x", sm.MaxWhyLen+1)}}, {"why": {"a", "b"}}} {
		if _, err := accept.Describe(ctx, console.Call{Actor: officer, Form: bad}); err == nil {
			t.Errorf("describe %v: accepted", bad)
		} else {
			wantBad(t, err, "why")
		}
	}
	o, err := accept.Describe(ctx, console.Call{Actor: officer, Form: url.Values{"why": {" restored after the disk failed \n"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := rec.Rollback
	if o.Kind != "sm.rollback.accept" || o.Params["why"] != "restored after the disk failed" || o.Params["log_head"] != r.LogHead ||
		o.Params["kept_sha256"] != r.KeptSHA256 || !strings.Contains(o.Words, "rolled back") || !strings.Contains(o.Words, r.LogHead) {
		t.Fatalf("describe: %+v", o)
	}
	form := formOf(o)
	bob := sm.Officer.As("bob")
	for name, try := range map[string]struct {
		c    console.Call
		want error
	}{
		"the proposer approving":  {console.Call{Actor: officer, Approver: officer, Form: form}, sm.ErrRole},
		"an auditor approving":    {console.Call{Actor: officer, Approver: auditor, Form: form}, sm.ErrRole},
		"an operator proposing":   {console.Call{Actor: operator, Approver: bob, Form: form}, sm.ErrRole},
		"another database":        {console.Call{Actor: officer, Approver: bob, Form: withParam(form, "log_head", strings.Repeat("0", 64))}, sm.ErrNoRollback},
		"another kept checkpoint": {console.Call{Actor: officer, Approver: bob, Form: withParam(form, "kept_size", "1")}, sm.ErrNoRollback},
	} {
		if _, err := accept.Do(ctx, try.c); !errors.Is(err, try.want) {
			t.Errorf("%s: %v, want %v", name, err, try.want)
		}
	}
	if m.Fault() == nil {
		t.Fatal("a refused approval changed the module")
	}
	done, err := accept.Do(ctx, console.Call{Actor: officer, Approver: bob, Form: form})
	if err != nil || !strings.Contains(done, "serves again") {
		t.Fatalf("approval: %q, %v", done, err)
	}
	if _, err := m.Registers(ctx, operator); err != nil {
		t.Fatalf("the accepted module does not serve: %v", err)
	}
	if id, err := identityOf(ctx, m, auditor); err != nil || id.RolledBack || id.Fault != "" {
		t.Errorf("the identity page after the approval: %+v, %v", id, err)
	}
	if rec := recoveryOf(m); rec.Pending || rec.Fault != "" || !strings.Contains(rec.Accepted, "alice, bob") {
		t.Errorf("recovery page after the approval: %+v", rec)
	}
	l, err := m.Audit(auditor)
	if err != nil {
		t.Fatal(err)
	}
	if actors := actorsOf(t, l, "sm.rollback.accept"); len(actors) != 1 || actors[0] != "officer:alice+bob" {
		t.Errorf("sm.rollback.accept audited as %v", actors)
	}
	// Approved again (a replay), or proposed anew: nothing to accept.
	_, err = accept.Do(ctx, console.Call{Actor: officer, Approver: bob, Form: form})
	if status, _ := api.Explain(err); !errors.Is(err, sm.ErrNoRollback) || status != http.StatusConflict {
		t.Errorf("a stale approval: %v (status %d)", err, status)
	}
	_, err = accept.Describe(ctx, console.Call{Actor: officer, Form: url.Values{"why": {"again"}}})
	if status, _ := api.Explain(err); !errors.Is(err, sm.ErrNoRollback) || status != http.StatusConflict {
		t.Errorf("a proposal with nothing to accept: %v (status %d)", err, status)
	}
}

// withParam is form with key set to value, form left as it was.
func withParam(form url.Values, key, value string) url.Values {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set(key, value)
	return f
}

// actorsOf returns the actors of l's records of action.
func actorsOf(t *testing.T, l *audit.Log, action string) []string {
	t.Helper()
	var actors []string
	err := l.Records(context.Background(), 1, func(r audit.Record) error {
		if r.Action == action {
			actors = append(actors, r.Actor)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return actors
}
