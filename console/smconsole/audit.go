package smconsole

import (
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/auditconsole"
	"github.com/stskms/stskms/sm"
)

// opAudit is the module's operation for reading, verifying and
// checkpointing its audit log (sm.Allow).
const opAudit = "audit.verify"

// auditPage is the audit page of m (package auditconsole), on the
// module's own methods, which check the person's role again.
func auditPage(m *sm.Module) console.Page {
	return auditconsole.Page(auditconsole.Source{Op: opAudit, Log: m.Audit, Verify: m.VerifyAudit, Checkpoint: m.AuditCheckpoint})
}
