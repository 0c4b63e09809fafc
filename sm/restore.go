package sm

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/store"
)

// A module restored from a backup (`stskms sm restore`, docs/operations.md)
// must never issue a TID its original may have issued after the backup.
// nextTID gives max(clock, last+1) per meter and key, at most the window
// ahead of the clock; so the original, stopped at the latest when the
// restore happens, issued no TID beyond BDT.TID(restore time + window), for
// any meter, including meters the backup never saw. The restore records
// that floor time F (sm_restore) and nextTID issues no TID ≤ BDT.TID(F) for
// any key: a token asked for too early is refused with ErrTIDWindow (44),
// saying the module was restored and until when to wait.

// restoreState is what the module's restores left.
type restoreState struct {
	floor    time.Time // the latest TID floor time, zero if never restored
	recorded string    // the restore this Open recorded, if any
}

// loadRestores reads the TID floor of the module's restores.
func (m *Module) loadRestores(ctx context.Context) error {
	var ns int64
	err := m.db.QueryRow(ctx, `SELECT COALESCE(MAX(floor_ns), 0) FROM sm_restore`).Scan(&ns)
	if err != nil {
		return fmt.Errorf("sm: failed to read the restores: %w", err)
	}
	if ns > 0 {
		m.restored.floor = time.Unix(0, ns).UTC()
	}
	return nil
}

// recordRestore records the restore r at the restored module's first Open,
// with the officers' dual control: the sm_restore row with the TID floor
// (now + the TID window) and the audit record sm.restore, in one
// transaction; then it keeps the log's checkpoint in place of the one kept
// (by the original, in a shared token or witness), as an explained fork.
func (m *Module) recordRestore(ctx context.Context, r keptcheckpoint.Restore, cpe *audit.CheckpointError, officers []string) error {
	distinct, err := m.dualControl(officers, "restoring a module from a backup")
	if err != nil {
		return err
	}
	d, err := r.Details(ctx, m.log, cpe)
	if err != nil {
		return refuseCause(ErrIntegrity, err, "restore")
	}
	now := m.now().UTC()
	floor := now.Add(time.Duration(m.window) * time.Minute)
	d["tid_floor"] = floor.Format(time.RFC3339)
	d["tid_window_minutes"] = m.window
	d["officers"] = distinct
	err = m.tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sm_restore (instance, at_ns, floor_ns, backup_ns, head_seq) VALUES ($1, $2, $3, $4, $5)`,
			r.Instance, now.UnixNano(), floor.UnixNano(), r.Created.UnixNano(), r.HeadSeq)
		if err != nil {
			return err
		}
		_, err = m.log.Append(ctx, tx, audit.Entry{Actor: r.Actor, Action: "sm.restore", Subject: m.ident.SMID.String(), Details: d})
		return err
	})
	if err != nil {
		return fmt.Errorf("sm: failed to record the restore: %w", err)
	}
	m.restored.floor = floor
	m.restored.recorded = fmt.Sprintf("restored as instance %s from the backup of %s (audit log forked at record %d); no TID up to %s (the original's clock-ahead window of %d minutes) will be issued; audited as sm.restore",
		r.Instance, r.Created.UTC().Format(time.RFC3339), d["forked_at_seq"], floor.Format(time.RFC3339), m.window)
	return m.kept.guard.Accept(ctx)
}

// dualControl returns the distinct officers, or refuses what needs at
// least two of them: a production module, on the sealed store or a
// PKCS#11 token (whose officers Open authenticated against its registry;
// sm/officers.go). A test module needs none.
func (m *Module) dualControl(officers []string, what string) ([]string, error) {
	distinct := slices.Compact(slices.Sorted(slices.Values(officers)))
	if !m.ident.Test && len(distinct) < 2 {
		return nil, refuse(ErrInvalidRequest, "%s needs dual control: at least two officers' passphrases", what)
	}
	return distinct, nil
}

// Restored describes the restore this Open recorded (Options.Restore), ""
// if there was none.
func (m *Module) Restored() string { return m.restored.recorded }

// tidFloor returns the lowest TID the module may issue under base date
// bdt since its restores: one past the floor time's, 0 if never restored.
func (m *Module) tidFloor(r *Register) (int64, error) {
	if m.restored.floor.IsZero() {
		return 0, nil
	}
	f, err := r.BDT.TID(m.restored.floor)
	if err != nil {
		return 0, refuseCause(ErrTIDWindow, err, "the TID floor of the module's restore")
	}
	return int64(f) + 1, nil
}

// floorRefusal is the refusal of a TID pushed by the restore's floor too
// far ahead of the clock.
func (m *Module) floorRefusal(r *Register, tid, clock int64) error {
	wait := r.BDT.Time(uint32(tid - int64(m.window)))
	return refuse(ErrTIDWindow, "TID %d would run %d minutes ahead of the clock (at most %d): the module was restored from a backup, "+
		"and its original may have issued TIDs up to %d; wait until %s", tid, tid-clock, m.window, tid-1, wait.UTC().Format(time.RFC3339))
}
