package sm

import (
	"context"

	"github.com/stskms/stskms/internal/auditkey"
)

// AuditCheckpoint signs, with the audit key in the module's custody, a
// checkpoint of the audit log as it stands, keeps it in the database and
// returns it as a signed note (auditor, officer): see audit.Log.Checkpoint.
// Keep it outside the database; `stskms audit verify --checkpoint` checks
// later that the log still extends it.
func (m *Module) AuditCheckpoint(ctx context.Context, a Actor) ([]byte, error) {
	if m.closed.Load() {
		return nil, refuse(ErrClosed, "")
	}
	if err := allow(a, "audit.verify"); err != nil {
		return nil, err
	}
	s, err := auditkey.Signer(ctx, m.log, m.custody)
	if err != nil {
		return nil, err
	}
	signed, _, err := m.log.Checkpoint(ctx, s)
	if err != nil {
		return nil, refuseCause(ErrIntegrity, err, "audit log")
	}
	return signed, nil
}
