package sm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/backuptest"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// rollBack copies f's database, issues a credit token of 600 (water)
// from a register loaded with a limit of 1000, and puts the copy back:
// the database is rolled back past the token, for the next Open to find.
// f's module is left closed (f.m nil). It returns the meter key of the
// token.
func (f *fixture) rollBack() sm.MeterKey {
	f.t.Helper()
	k := f.loadLimited(1000)
	mk := meterKey(f.t, 1, k)
	f.m.Close()
	backup := f.t.TempDir()
	backuptest.Copy(f.t, f.dir, backup, "sm.db*")
	f.reopen()
	f.credit(sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 600})
	f.m.Close()
	f.m = nil
	backuptest.Copy(f.t, backup, f.dir, "sm.db*")
	return mk
}

// rolledBack opens, in its error state, a module whose database was
// restored from a copy made before a credit token was issued, and
// returns it with the meter key of that token.
func rolledBack(t *testing.T) (*fixture, *sm.Module, sm.MeterKey) {
	t.Helper()
	f := newFixture(t, nil, sm.Vending)
	mk := f.rollBack()
	m, err := sm.Open(f.ctx, f.dir, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if !errors.Is(m.Fault(), audit.ErrRolledBack) {
		t.Fatalf("restored database: fault %v, want rolled back", m.Fault())
	}
	return f, m, mk
}

// TestAcceptRollback: a running module in its error state for a restored
// database accepts it by two officers (sm.rollback.accept naming both and
// their words) and issues again without a restart; a single officer, an
// officer twice, an operator, no words, or a state other than the one
// seen are refused and change nothing; once accepted, there is nothing
// more to accept, and the next Open finds the log good.
func TestAcceptRollback(t *testing.T) {
	f, m, mk := rolledBack(t)
	credit := sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 600}
	if _, err := m.Credit(f.ctx, operator, credit); !errors.Is(err, sm.ErrSelfTest) {
		t.Fatalf("a restored module issued: %v", err)
	}
	seen, ok := m.PendingRollback()
	if !ok || seen.Kind != "rolled back" || seen.KeptSize <= seen.LogSize || seen.LogHead == "" || len(seen.KeptSHA256) != 64 {
		t.Fatalf("pending rollback %+v, %v", seen, ok)
	}
	alice, bob := sm.Officer.As("alice"), sm.Officer.As("bob")
	dual, err := m.DualControl(alice, bob)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.DualControl(alice, alice); !errors.Is(err, sm.ErrRole) {
		t.Errorf("alice twice: %v", err)
	}
	other := seen
	other.LogHead = strings.Repeat("0", 64)
	for name, try := range map[string]struct {
		a    sm.Actor
		seen sm.Rollback
		why  string
		want error
	}{
		"one officer":        {alice, seen, "restored after the disk failed", sm.ErrRole},
		"an officer twice":   {sm.Officer.As("alice+alice"), seen, "restored after the disk failed", sm.ErrRole},
		"an operator pair":   {sm.Operator.As("alice+bob"), seen, "restored after the disk failed", sm.ErrRole},
		"no words":           {dual, seen, " \n", sm.ErrInvalidRequest},
		"another database":   {dual, other, "restored after the disk failed", sm.ErrNoRollback},
		"the zero rollback":  {dual, sm.Rollback{}, "restored after the disk failed", sm.ErrNoRollback},
		"words far too long": {dual, seen, strings.Repeat("x", sm.MaxWhyLen+1), sm.ErrInvalidRequest},
	} {
		if err := m.AcceptRollback(f.ctx, try.a, try.seen, try.why); !errors.Is(err, try.want) {
			t.Errorf("%s: %v, want %v", name, err, try.want)
		}
	}
	if m.Fault() == nil || m.AcceptedRollback() != "" {
		t.Fatalf("a refused acceptance changed the module: fault %v, accepted %q", m.Fault(), m.AcceptedRollback())
	}
	if actions, _ := auditActions(t, m); slices.Contains(actions, "sm.rollback.accept") {
		t.Fatal("a refused acceptance was audited as accepted")
	}

	if err := m.AcceptRollback(f.ctx, dual, seen, "restored after the disk failed; tokens reconciled"); err != nil {
		t.Fatal(err)
	}
	if m.Fault() != nil || !strings.Contains(m.AcceptedRollback(), "alice, bob") {
		t.Fatalf("accepted: fault %v, accepted %q", m.Fault(), m.AcceptedRollback())
	}
	if _, err := m.Credit(f.ctx, operator, credit); err != nil {
		t.Fatalf("the accepted module does not issue: %v", err)
	}
	var rec audit.Record
	l, _ := m.Audit(auditor)
	l.Records(f.ctx, 1, func(r audit.Record) error {
		if r.Action == "sm.rollback.accept" {
			rec = r
		}
		return nil
	})
	details, _ := json.Marshal(rec.Details)
	if rec.Actor != "officer:alice+bob" || !strings.Contains(string(details), `"why":"restored after the disk failed; tokens reconciled"`) ||
		!strings.Contains(string(details), fmt.Sprintf(`"kept_size":%d`, seen.KeptSize)) {
		t.Errorf("audited as %q %s", rec.Actor, details)
	}
	if err := m.AcceptRollback(f.ctx, dual, seen, "again"); !errors.Is(err, sm.ErrNoRollback) {
		t.Errorf("a second acceptance: %v", err)
	}
	if _, ok := m.PendingRollback(); ok {
		t.Error("still a rollback to accept")
	}
	m.Close()
	again, err := sm.Open(f.ctx, f.dir, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Fault() != nil {
		t.Fatalf("reopened after the acceptance: %v", again.Fault())
	}
}

// TestAcceptRollbackNothing: a module whose log extends its kept
// checkpoint has nothing to accept.
func TestAcceptRollbackNothing(t *testing.T) {
	f := newFixture(t, nil, sm.Vending)
	if _, ok := f.m.PendingRollback(); ok {
		t.Fatal("a good module has a rollback to accept")
	}
	dual, _ := f.m.DualControl(sm.Officer.As("alice"), sm.Officer.As("bob"))
	if err := f.m.AcceptRollback(f.ctx, dual, sm.Rollback{}, "why not"); !errors.Is(err, sm.ErrNoRollback) {
		t.Fatalf("accepting nothing: %v", err)
	}
	if actions, _ := auditActions(t, f.m); slices.Contains(actions, "sm.rollback.accept") {
		t.Fatal("nothing accepted, yet audited")
	}
}
