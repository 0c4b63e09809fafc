package keptcheckpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/auditkey"
	"github.com/stskms/stskms/keystore"
)

// Defaults of the checkpoint cadence of a serving component (Guard.Run).
const (
	// DefaultEvery is how far the kept checkpoint may lag behind a
	// serving component's log, in time.
	DefaultEvery = time.Second
	// DefaultRecords is how far it may lag, in records.
	DefaultRecords = 100_000
)

// Guard checks a component's log against its kept checkpoint at open,
// and keeps new checkpoints signed by the audit key in custody. It is safe
// for concurrent use.
type Guard struct {
	keeper  *Keeper
	log     *audit.Log
	custody keystore.Custody

	ok        atomic.Bool            // the log extends the kept checkpoint: keep new ones
	witnessed atomic.Pointer[string] // the witness file whose checkpoint the log does not extend
	mu        sync.Mutex             // one checkpoint at a time
	signer    audit.Signer
}

// NewGuard returns the Guard of log, whose audit key is in custody, and
// whose checkpoint is kept in custody if it is a PKCS#11 token, else in
// the keystore directory dir (StoreOf), and appended to the witness files.
func NewGuard(log *audit.Log, custody keystore.Custody, dir string, witnesses ...string) *Guard {
	return &Guard{keeper: NewIn(StoreOf(custody, dir), witnesses...), log: log, custody: custody}
}

// Path says where the checkpoint is kept: the witness file, if Check
// found there the checkpoint the log does not extend.
func (g *Guard) Path() string {
	if w := g.witnessed.Load(); w != nil {
		return *w
	}
	return g.keeper.Path()
}

// Check checks, in logarithmic time, that the log extends the kept
// checkpoint, and keeps the log's checkpoint if the log grew past it (the
// first time, it keeps one; an open that finds nothing new signs nothing). A log that does not extend it (restored, rolled back, forked) or a
// kept checkpoint whose signature does not verify is returned as a
// *audit.CheckpointError, and nothing is kept until Accept. A log that
// fails its own check (audit.Log.Check) is left to the self-test: nothing
// is kept.
func (g *Guard) Check(ctx context.Context) (*audit.CheckpointError, error) {
	kept, err := g.keeper.Load()
	if err != nil {
		return nil, err
	}
	if kept != nil {
		_, err = g.log.CheckExtends(ctx, kept, nil)
	} else {
		_, err = g.log.Check(ctx)
	}
	var cpe *audit.CheckpointError
	switch {
	case errors.As(err, &cpe):
		return cpe, nil
	case err != nil:
		return nil, nil
	}
	if cpe, err := g.checkWitnesses(ctx); cpe != nil || err != nil {
		return cpe, err
	}
	g.ok.Store(true)
	return nil, g.Keep(ctx)
}

// Kept returns the signed checkpoint kept (not the witnesses'), nil if
// none is.
func (g *Guard) Kept() ([]byte, error) { return g.keeper.Load() }

// Accept keeps the log's checkpoint in place of one it does not extend:
// the caller has had the acceptance authorised and audited.
func (g *Guard) Accept(ctx context.Context) error {
	g.ok.Store(true)
	return g.keep(ctx, true)
}

// keep signs a checkpoint of the log as it stands and keeps it (force:
// even if a larger one is kept, and whatever the witness files hold;
// otherwise a witness file holding a checkpoint the log does not extend
// fails the keeping: another instance writes there).
func (g *Guard) keep(ctx context.Context, force bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.signer == nil {
		s, err := auditkey.Signer(ctx, g.log, g.custody)
		if err != nil {
			return err
		}
		g.signer = s
	}
	if !force {
		if err := g.witnessConflict(ctx); err != nil {
			return err
		}
	}
	signed, _, err := g.log.Checkpoint(ctx, g.signer)
	if err != nil {
		return err
	}
	return g.keeper.Keep(signed, force)
}

// Keep keeps a new checkpoint if the log grew since the kept one. It does
// nothing unless Check or Accept found the log good.
func (g *Guard) Keep(ctx context.Context) error {
	if !g.ok.Load() {
		return nil
	}
	n, err := g.log.Size(ctx)
	if err != nil || n <= g.keeper.Kept() {
		return err
	}
	return g.keep(ctx, false)
}

// Run keeps a checkpoint whenever the log has grown by records
// (DefaultRecords if 0) or every (DefaultEvery if 0) has passed since the
// last, until ctx is done (ctx.Err()) or keeping one fails (its error).
func (g *Guard) Run(ctx context.Context, every time.Duration, records int64) error {
	if every <= 0 {
		every = DefaultEvery
	}
	if records <= 0 {
		records = DefaultRecords
	}
	t := time.NewTicker(min(every, 100*time.Millisecond))
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			due, err := g.due(ctx, now.Sub(last) >= every, records)
			if err == nil && due {
				last = now
				err = g.Keep(ctx)
			}
			if err != nil {
				return errors.Join(ctx.Err(), err)
			}
		}
	}
}

// due says whether a checkpoint is due: late, or records behind the log.
func (g *Guard) due(ctx context.Context, late bool, records int64) (bool, error) {
	if late || !g.ok.Load() {
		return late, nil
	}
	n, err := g.log.Size(ctx)
	return err == nil && n-g.keeper.Kept() >= records, err
}

// What says what a checkpoint error's kind means of a database: "rolled
// back", "forked", or that its kept checkpoint is refused.
func What(k audit.CheckpointKind) string {
	switch k {
	case audit.RolledBack:
		return "rolled back"
	case audit.Forked:
		return "forked"
	}
	return "not checked: its kept checkpoint is refused"
}

// Acceptance is what accepting a rolled-back or forked database says: the
// sentence an operator is shown afterwards and the details of the audit
// record, under action, that keeps it. officers are the distinct officers
// who accepted it; none means a test component's opener, component ("KMC",
// "module") saying which.
func Acceptance(cpe *audit.CheckpointError, logSize int64, officers []string, component, action string) (string, map[string]any) {
	by := "the officers " + strings.Join(officers, ", ")
	if len(officers) == 0 {
		by = "the opener (a test " + component + ": no officer credentials)"
	}
	said := fmt.Sprintf("the database was %s: the kept checkpoint had %d records, the log has %d (%s); accepted by %s, audited as %s",
		What(cpe.Kind), cpe.Size, logSize, cpe.Reason, by, action)
	details := map[string]any{"kind": cpe.Kind.String(), "kept_size": cpe.Size, "log_size": logSize, "reason": cpe.Reason, "officers": officers}
	return said, details
}
