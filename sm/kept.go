package sm

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/keptcheckpoint"
)

// Rollback detection (docs/audit.md, "Rollback detection"): the module
// keeps its latest signed audit checkpoint outside its database, in
// DIR/keystore beside the sealed files, or in its PKCS#11 token as a data
// object, and at its witnesses. Open checks that the database's log extends it;
// one that does not — a restored backup, a rolled-back or forked
// database — opens in the error state until the officers accept it
// (Options.AcceptRollback, `stskms sm accept-rollback`).

// Defaults of the checkpoint cadence of a serving module (KeepCheckpoints).
const (
	// DefaultCheckpointEvery is how far the kept checkpoint may lag
	// behind a serving module's log, in time.
	DefaultCheckpointEvery = keptcheckpoint.DefaultEvery
	// DefaultCheckpointRecords is how far it may lag, in records.
	DefaultCheckpointRecords = keptcheckpoint.DefaultRecords
)

// keptState is the module's kept checkpoint.
type keptState struct {
	guard    *keptcheckpoint.Guard
	accepted string // the rollback this Open accepted, if any

	mu      sync.Mutex       // one acceptance at a time (accept.go)
	pending *pendingRollback // the rollback Open found and nobody accepted yet, or nil
}

// checkKept checks the database's log against the kept checkpoint (the
// first Open by this version keeps one). A log that does not extend it
// puts the module in its error state, or, with opts.AcceptRollback and
// the officers' dual control, is accepted: recorded in the log
// (sm.rollback.accept) and its checkpoint kept in place of the old one.
func (m *Module) checkKept(ctx context.Context, mf moduleFile, opts Options) error {
	g := keptcheckpoint.NewGuard(m.log, m.custody, filepath.Join(m.dir, KeystoreDir), opts.Witnesses...)
	m.kept.guard = g
	cpe, err := g.Check(ctx)
	switch {
	case err != nil:
		return refuseCause(ErrIntegrity, err, "audit checkpoint")
	case opts.Restore != nil:
		return m.recordRestore(ctx, *opts.Restore, cpe, unlockedBy(mf, opts))
	case cpe == nil:
		return nil
	case !opts.AcceptRollback:
		fault := refuseCause(ErrSelfTest, cpe, "the database was %s: its audit log does not extend the checkpoint of %d records kept in %s "+
			"(a restored backup, or a rolled-back or forked database); if the officers mean to go on from this database, "+
			"run `stskms sm accept-rollback` or accept it on the operator console (dual control, audited)",
			keptcheckpoint.What(cpe.Kind), cpe.Size, g.Path())
		m.fault.Store(fault)
		return m.holdRollback(ctx, cpe, fault)
	}
	return m.acceptRollback(ctx, cpe, unlockedBy(mf, opts), "officers", "")
}

// acceptRollback records the officers' acceptance of a log that does not
// extend the kept checkpoint, audited as actor (with the officers' own
// words why, if any), and keeps the log's checkpoint instead. A
// production module needs two officers (dualControl). Open with
// Options.AcceptRollback and AcceptRollback both call it.
func (m *Module) acceptRollback(ctx context.Context, cpe *audit.CheckpointError, officers []string, actor, why string) error {
	distinct, err := m.dualControl(officers, "accepting a rolled-back database")
	if err != nil {
		return err
	}
	size, err := m.log.Size(ctx)
	if err != nil {
		return err
	}
	const action = "sm.rollback.accept"
	accepted, d := keptcheckpoint.Acceptance(cpe, size, distinct, "module", action)
	if why != "" {
		d["why"] = why
	}
	_, err = m.log.AppendNow(ctx, audit.Entry{Actor: actor, Action: action, Subject: m.ident.SMID.String(), Details: d})
	if err != nil {
		return err
	}
	m.kept.accepted = accepted
	return m.kept.guard.Accept(ctx)
}

// AcceptedRollback describes the rollback this Open, or AcceptRollback
// since, accepted, "" if there was none to accept.
func (m *Module) AcceptedRollback() string {
	m.kept.mu.Lock()
	defer m.kept.mu.Unlock()
	return m.kept.accepted
}

// KeepCheckpoint keeps a new checkpoint outside the database if the log
// grew since the kept one. It does nothing in a module whose log does not
// extend the kept checkpoint.
func (m *Module) KeepCheckpoint(ctx context.Context) error {
	if m.closed.Load() {
		return refuse(ErrClosed, "")
	}
	return m.kept.guard.Keep(ctx)
}

// KeepCheckpoints keeps a checkpoint whenever the log has grown by records
// (DefaultCheckpointRecords if 0) or every (DefaultCheckpointEvery if 0)
// has passed since the last, until ctx is done or keeping one fails, and
// returns why it stopped.
func (m *Module) KeepCheckpoints(ctx context.Context, every time.Duration, records int64) error {
	return m.kept.guard.Run(ctx, every, records)
}

// keepAtClose keeps the checkpoint of the log as Close leaves it.
func (m *Module) keepAtClose() error {
	if m.kept.guard == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return m.kept.guard.Keep(ctx)
}
