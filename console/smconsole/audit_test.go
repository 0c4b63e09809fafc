package smconsole

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/auditconsole"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
)

// TestAuditPage: on a module, the audit page's rule is the module's own
// (sm.Allow: auditors and officers); an operator is refused by the
// module's methods too, and gets no checkpoint; the checkpoint an auditor
// downloads verifies with the key the module publishes (sm identify); a
// log cut behind the module's back fails verification.
func TestAuditPage(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sm")
	if _, err := sm.Init(ctx, dir, sm.Vending, true, sm.Options{}); err != nil {
		t.Fatal(err)
	}
	m, err := sm.Open(ctx, dir, sm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := auditPage(m)
	pos, carol := sm.Operator.As("pos"), sm.Auditor.As("carol")
	if sm.Allow(pos, p.Op) == nil || sm.Allow(carol, p.Op) != nil || sm.Allow(sm.Officer.As("alice"), p.Op) != nil {
		t.Errorf("page op %q: not the module's audit rule", p.Op)
	}
	if _, err := p.Data(ctx, pos, console.Query{Values: url.Values{}}); !errors.Is(err, sm.ErrRole) {
		t.Errorf("operator reads the log: %v, want sm.ErrRole", err)
	}
	download := p.Actions[0].Download
	if _, err := download(ctx, console.Call{Actor: pos}); !errors.Is(err, sm.ErrRole) {
		t.Errorf("operator downloads a checkpoint: %v, want sm.ErrRole", err)
	}
	f, err := download(ctx, console.Call{Actor: carol})
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(m.Identify().AuditKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenCheckpoint(f.Body, v); err != nil || !strings.HasPrefix(f.Name, "audit-checkpoint-") {
		t.Errorf("checkpoint %s: %v", f.Name, err)
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, sm.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_log_no_delete`, `DELETE FROM audit_log WHERE seq > 1`} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	data, err := p.Data(ctx, carol, console.Query{Values: url.Values{"verify": {"1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := data.(*auditconsole.View).Verified; got == nil || got.OK || !strings.Contains(got.Problem, "chain broken at record 2 (removed)") {
		t.Errorf("cut log verified as %+v", got)
	}
}
