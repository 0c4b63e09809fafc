package kmc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/keptcheckpoint"
)

// Rollback detection (docs/audit.md, "Rollback detection"): a KMC opened
// from its directory keeps its latest signed audit checkpoint in
// DIR/keystore (or in its PKCS#11 token, as a data object) and at its
// witnesses. New
// refuses a database whose log does not extend it (an error matching the
// *audit.CheckpointError) — a restored backup, a
// rolled-back or forked database — so that the KMC serves and issues
// nothing from it, until the officers accept it (Config.AcceptRollback,
// `stskms kmc accept-rollback`).

// checkKept checks the log against the kept checkpoint (nothing if
// cfg.KeepDir is empty), and accepts a rollback if cfg says so.
func (k *KMC) checkKept(ctx context.Context, cfg Config) error {
	if cfg.KeepDir == "" {
		return nil
	}
	k.kept = keptcheckpoint.NewGuard(k.log, k.custody, cfg.KeepDir, cfg.Witnesses...)
	cpe, err := k.kept.Check(ctx)
	switch {
	case err != nil:
		return failed("check the kept audit checkpoint", err)
	case cfg.Restore != nil:
		return k.recordRestore(ctx, *cfg.Restore, cpe, cfg.UnlockedBy)
	case cpe == nil:
		return nil
	case !cfg.AcceptRollback:
		return fmt.Errorf("kmc: the database was %s: its audit log does not extend the checkpoint of %d records kept in %s "+
			"(a restored backup, or a rolled-back or forked database): the KMC refuses to serve; if the officers mean to go on "+
			"from this database, run `stskms kmc accept-rollback` (dual control, audited): %w",
			keptcheckpoint.What(cpe.Kind), cpe.Size, k.kept.Path(), cpe)
	}
	return k.acceptRollback(ctx, cpe, cfg.UnlockedBy)
}

// acceptRollback records the officers' acceptance and keeps the log's
// checkpoint instead. A live KMC needs two registered officers, each
// authenticated by their passphrase (Config.UnlockedBy).
func (k *KMC) acceptRollback(ctx context.Context, cpe *audit.CheckpointError, officers []string) error {
	distinct, err := k.twoOfficers(officers, "accepting a rolled-back database")
	if err != nil {
		return err
	}
	size, err := k.log.Size(ctx)
	if err != nil {
		return err
	}
	const action = "kmc.rollback.accept"
	accepted, details := keptcheckpoint.Acceptance(cpe, size, distinct, "KMC", action)
	_, err = k.log.AppendNow(ctx, audit.Entry{Actor: "officers", Action: action, Details: details})
	if err != nil {
		return failed("record the accepted rollback", err)
	}
	k.accepted = accepted
	return k.kept.Accept(ctx)
}

// AcceptedRollback describes the rollback New accepted
// (Config.AcceptRollback), "" if there was none to accept.
func (k *KMC) AcceptedRollback() string { return k.accepted }

// KeepCheckpoints keeps a checkpoint outside the database whenever the log
// has grown by records (keptcheckpoint.DefaultRecords if 0) or every
// (keptcheckpoint.DefaultEvery if 0) has passed since the last, until ctx
// is done or keeping one fails, and returns why it stopped. A KMC made by
// New without KeepDir keeps none: it waits for ctx.
func (k *KMC) KeepCheckpoints(ctx context.Context, every time.Duration, records int64) error {
	if k.kept == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return k.kept.Run(ctx, every, records)
}

// keepAtClose keeps the checkpoint of the log as Close leaves it.
func (k *KMC) keepAtClose() error {
	if k.kept == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return k.kept.Keep(ctx)
}

// twoOfficers returns the distinct officers of a step under dual control
// (what), sorted; a live KMC needs at least two (ErrDualControl).
func (k *KMC) twoOfficers(officers []string, what string) ([]string, error) {
	distinct := slices.Compact(slices.Sorted(slices.Values(officers)))
	if !k.custody.TestMode() && len(distinct) < 2 {
		return nil, fmt.Errorf("%w: %s needs at least two officers' passphrases", ErrDualControl, what)
	}
	return distinct, nil
}
