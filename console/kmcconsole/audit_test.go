package kmcconsole

import (
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
)

// TestAuditPage: on a KMC, the audit page's rule is kmc.Allow's for
// kmc.OpAuditVerify; an operator reads no record and gets no checkpoint;
// the checkpoint an auditor downloads verifies with the KMC's published
// audit key (kmc.KMC.AuditKey); a record forged behind the KMC's back
// fails verification, naming it.
func TestAuditPage(t *testing.T) {
	k, dir := consoletest.KMC(t)
	p := auditPage(k)
	if p.Op != kmc.OpAuditVerify || p.Path != "audit" {
		t.Errorf("page %q op %q", p.Path, p.Op)
	}
	consoletest.CheckAudit(t, consoletest.Audit{Page: p, ErrRole: kmc.ErrRole,
		Operator: role.Operator.As("pos"), Auditor: role.Auditor.As("carol"), Verifier: role.Officer.As("alice"),
		Key: k.AuditKey(), DB: filepath.Join(dir, kmc.DefaultDBFile),
		Break:   []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET actor = 'officer:mallory' WHERE seq = 1`},
		Problem: "chain broken at record 1 (edited)"})
}
