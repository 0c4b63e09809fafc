package kmc

import (
	"context"
	"fmt"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/store"
)

// Firmware integrity and anti-rollback (STS 600-10-1 §4.2 B3, B4; package
// release, docs/release.md): New checks the running binary against the
// configured release manifest (refusing to start unsigned when
// Config.Release.RequireSigned) and keeps the KMC's version floor in its
// database.

// checkRelease checks the running binary and the version floor of cfg's
// database, before the KMC's schema is migrated.
func checkRelease(ctx context.Context, cfg Config) (release.Status, release.Floor, error) {
	st, err := cfg.Release.Check()
	if err != nil {
		return st, release.Floor{}, fmt.Errorf("kmc: %w", err)
	}
	test := cfg.Custody.TestMode()
	f, err := release.CheckFloor(ctx, cfg.DB, component, cfg.Release, test)
	if err == nil {
		err = f.Authorize(test, cfg.UnlockedBy)
	}
	if err != nil {
		return st, f, fmt.Errorf("kmc: %w", err)
	}
	return st, f, nil
}

// recordFloor writes the floor checkRelease decided, with its audit record
// (kmc.version.raise, or kmc.version.downgrade naming the officers).
func (k *KMC) recordFloor(ctx context.Context, f release.Floor, cfg Config) error {
	k.floor = f
	if !f.Changed() {
		return nil
	}
	actor, d := f.Audit(cfg.UnlockedBy)
	err := k.tx(ctx, func(tx *store.Tx) error {
		if err := f.Record(ctx, tx, k.now()); err != nil {
			return err
		}
		_, err := k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: f.Action(), Details: d})
		return err
	})
	if err != nil {
		return failed("record the version floor", err)
	}
	return nil
}

// Release says whether the running binary is a signed release (as checked
// by New).
func (k *KMC) Release() release.Status { return k.release }

// Floor is the version floor as New found and left it.
func (k *KMC) Floor() release.Floor { return k.floor }
