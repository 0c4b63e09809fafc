package sm

import (
	"context"
	"fmt"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/store"
)

// Firmware integrity and anti-rollback (STS 600-10-1 §4.2 B3, B4; package
// release, docs/release.md): Open checks the running binary against the
// configured release manifest (refusing to start unsigned when
// Options.Release.RequireSigned), reports the result in the self-test,
// and keeps the module's version floor in its database.

// checkRelease checks the running binary (Options.Release), before any
// key is unlocked.
func checkRelease(opts Options) (release.Status, error) {
	st, err := opts.Release.Check()
	if err != nil {
		return st, fmt.Errorf("sm: %w", err)
	}
	return st, nil
}

// checkFloor decides whether this binary may open the module's state (see
// release.CheckFloor), before the module's schema is migrated. A
// downgrade's dual control is the officers who unlocked the sealed store.
func (m *Module) checkFloor(ctx context.Context, mf moduleFile, opts Options) (release.Floor, error) {
	test := m.custody.TestMode()
	f, err := release.CheckFloor(ctx, m.db, component, opts.Release, test)
	if err == nil {
		err = f.Authorize(test, unlockedBy(mf, opts))
	}
	if err != nil {
		return f, fmt.Errorf("sm: %w", err)
	}
	return f, nil
}

// unlockedBy names the officers whose passphrases Open authenticated:
// those that unlocked the sealed store, or those given for a PKCS#11
// token and verified against its officer registry (sm/officers.go); none
// for a test module.
func unlockedBy(mf moduleFile, opts Options) []string {
	if mf.Test {
		return nil
	}
	return keystore.OfficerNames(opts.Officers)
}

// recordFloor writes the floor checkFloor decided, with its audit record
// (sm.version.raise, or sm.version.downgrade naming the officers).
func (m *Module) recordFloor(ctx context.Context, f release.Floor, mf moduleFile, opts Options) error {
	m.floor = f
	if !f.Changed() {
		return nil
	}
	actor, d := f.Audit(unlockedBy(mf, opts))
	err := m.tx(ctx, func(tx *store.Tx) error {
		if err := f.Record(ctx, tx, m.now()); err != nil {
			return err
		}
		_, err := m.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: f.Action(), Subject: m.ident.SMID.String(), Details: d})
		return err
	})
	if err != nil {
		return fmt.Errorf("sm: failed to record the version floor: %w", err)
	}
	return nil
}

// Release says whether the running binary is a signed release (as checked
// at Open).
func (m *Module) Release() release.Status { return m.release }

// Floor is the version floor as this Open found and left it.
func (m *Module) Floor() release.Floor { return m.floor }
