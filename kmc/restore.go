package kmc

import (
	"context"
	"fmt"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/keptcheckpoint"
)

// recordRestore records, at the first open of a KMC restored from a
// backup (`stskms kmc restore`, docs/operations.md), the restore r as an
// explained fork: the audit record kmc.restore (the backup's time and
// head, the head the log forks from, the new instance, the officers), then
// the log's checkpoint kept in place of the one kept (by the original, in
// a shared PKCS#11 token or witness). A live KMC needs two officers.
func (k *KMC) recordRestore(ctx context.Context, r keptcheckpoint.Restore, cpe *audit.CheckpointError, officers []string) error {
	distinct, err := k.twoOfficers(officers, "restoring a KMC from a backup")
	if err != nil {
		return err
	}
	d, err := r.Details(ctx, k.log, cpe)
	if err != nil {
		return failed("record the restore", err)
	}
	d["officers"] = distinct
	if _, err := k.log.AppendNow(ctx, audit.Entry{Actor: r.Actor, Action: "kmc.restore", Details: d}); err != nil {
		return failed("record the restore", err)
	}
	k.restored = fmt.Sprintf("restored as instance %s from the backup of %s (audit log forked at record %d); audited as kmc.restore",
		r.Instance, r.Created.UTC().Format(time.RFC3339), d["forked_at_seq"])
	return k.kept.Accept(ctx)
}

// Restored describes the restore this open recorded (Config.Restore), ""
// if there was none.
func (k *KMC) Restored() string { return k.restored }
