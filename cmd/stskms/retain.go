package main

import (
	"context"
	"fmt"
	"time"

	"github.com/stskms/stskms/kmc"
)

// defaultRetain is the default of --retain for "kmc serve" and "gateway
// serve": finished mail and seen requests are kept 30 days.
const defaultRetain = 30 * 24 * time.Hour

// retainFlags are --retain and --prune-every of a server.
type retainFlags struct {
	age, every *time.Duration
}

func addRetainFlags(fs *flagSet, what string) retainFlags {
	return retainFlags{
		age: fs.Duration("retain", defaultRetain, "prune "+what+" older than this (0: keep everything)"),
		every: fs.Duration("prune-every", time.Hour,
			"how often to prune (at start, then at this interval)"),
	}
}

// check refuses a negative age or a non-positive interval.
func (f retainFlags) check() error {
	if *f.age < 0 {
		return fmt.Errorf("--retain %v: want a positive age, or 0 to keep everything", *f.age)
	}
	if *f.every <= 0 {
		return fmt.Errorf("--prune-every %v: want a positive interval", *f.every)
	}
	return nil
}

// checkKMC also refuses an age the KMC's replay protection still needs.
func (f retainFlags) checkKMC(k *kmc.KMC) error {
	if err := f.check(); err != nil {
		return err
	}
	if *f.age > 0 && *f.age < k.MinPruneAge() {
		return fmt.Errorf("--retain %v: at least %v (twice the freshness window), which replay protection needs",
			*f.age, k.MinPruneAge())
	}
	return nil
}

// pruneKMC prunes k's seen requests and remembered update answers older
// than the age (kmc.Prune, audited as kmc.prune) at once and then at the
// interval, until ctx ends, saying what it did through logf. An age of 0
// prunes nothing.
func (f retainFlags) pruneKMC(ctx context.Context, k *kmc.KMC, actor string, logf func(format string, args ...any)) {
	if *f.age == 0 {
		return
	}
	t := time.NewTicker(*f.every)
	defer t.Stop()
	for {
		res, err := k.Prune(ctx, actor, *f.age)
		switch {
		case err != nil && ctx.Err() == nil:
			logf("retention: %v", err)
		case err == nil:
			logf("retention: pruned before %s: %d seen requests, %d registry-update answers",
				res.Cutoff.Format(time.RFC3339), res.Requests, res.Answers)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
