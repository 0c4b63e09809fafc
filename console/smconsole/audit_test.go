package smconsole

import (
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/sm"
)

// TestAuditPage: on a module, the audit page's rule is the module's own
// (sm.Allow: auditors and officers); an operator is refused by the
// module's methods too, and gets no checkpoint; the checkpoint an auditor
// downloads verifies with the key the module publishes (sm identify); a
// log cut behind the module's back fails verification.
func TestAuditPage(t *testing.T) {
	m, dir := consoletest.Module(t)
	p := auditPage(m)
	pos, carol := sm.Operator.As("pos"), sm.Auditor.As("carol")
	if sm.Allow(pos, p.Op) == nil || sm.Allow(carol, p.Op) != nil || sm.Allow(sm.Officer.As("alice"), p.Op) != nil {
		t.Errorf("page op %q: not the module's audit rule", p.Op)
	}
	consoletest.CheckAudit(t, consoletest.Audit{Page: p, ErrRole: sm.ErrRole,
		Operator: pos, Auditor: carol, Verifier: carol,
		Key: m.Identify().AuditKey, DB: filepath.Join(dir, sm.DatabaseFile),
		Break:   []string{`DROP TRIGGER audit_log_no_delete`, `DELETE FROM audit_log WHERE seq > 1`},
		Problem: "chain broken at record 2 (removed)"})
}
