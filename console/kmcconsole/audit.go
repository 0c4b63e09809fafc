package kmcconsole

import (
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/auditconsole"
	"github.com/stskms/stskms/kmc"
)

// auditPage is the audit page of k (package auditconsole): kmc.Allow
// asked for kmc.OpAuditVerify before the KMC's log is read, verified or
// checkpointed.
func auditPage(k *kmc.KMC) console.Page {
	return auditconsole.Page(auditconsole.Checked(kmc.Allow, kmc.OpAuditVerify, k.AuditLog(), k.AuditCheckpoint))
}
