package kmc

import (
	"context"

	"github.com/stskms/stskms/internal/auditkey"
)

// AuditKey returns the note verifier key of the audit log's checkpoints
// (see docs/audit.md): publish it with the KMC's fingerprint.
func (k *KMC) AuditKey() string { return k.vkey }

// AuditCheckpoint signs, with the audit key in the KMC's custody, a
// checkpoint of the audit log as it stands, keeps it in the database and
// returns it as a signed note: see audit.Log.Checkpoint.
func (k *KMC) AuditCheckpoint(ctx context.Context) ([]byte, error) {
	s, err := auditkey.Signer(ctx, k.log, k.custody)
	if err != nil {
		return nil, err
	}
	signed, _, err := k.log.Checkpoint(ctx, s)
	return signed, err
}
