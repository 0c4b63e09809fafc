package release

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stskms/stskms/store"
)

// Anti-rollback (STS 600-10-1 §4.2 B4). Each component (module, KMC)
// records in its database the highest release version that has opened its
// state, its version floor. A binary older than the floor refuses to open
// the state; the override is an audited dual-control command that lowers
// the floor to the running version. A development build ("devel") never
// records a floor; it opens a test component whatever its floor, and a
// production one only while no release has opened it.
//
// The floor lives in its own schema component ("release", table
// release_floor, one row per component), checked before any other
// migration runs, so that an older binary is refused with both versions
// named rather than failing on a schema it does not know.
const floorComponent = "release"

var floorMigrations = []store.Migration{{
	Version: 1,
	Name:    "the highest release version that opened each component",
	SQL: `CREATE TABLE release_floor (
		component  TEXT PRIMARY KEY,
		version    TEXT NOT NULL,
		changed_ns BIGINT NOT NULL
	)`,
}}

// ErrRollback is matched by a *RollbackError.
var ErrRollback = errors.New("release: binary older than the state it opens")

// RollbackError is the refusal of a binary older than a component's
// version floor.
type RollbackError struct {
	Component string // "sm", "kmc"
	Floor     string // the highest version that opened the state
	Running   string // this binary's version
	// Why, if not empty, says why the override cannot help.
	Why string
}

func (e *RollbackError) Error() string {
	msg := fmt.Sprintf("the %s state was opened by stskms %s; this binary is stskms %s, older: refusing to open it (anti-rollback, STS 600-10-1 B4)",
		e.Component, e.Floor, e.Running)
	if e.Why != "" {
		return msg + ": " + e.Why
	}
	return msg + ": run " + e.Floor + " or newer, or lower the floor to " + e.Running +
		" with `stskms " + e.Component + " downgrade` (dual control, audited)"
}

// Unwrap returns ErrRollback.
func (e *RollbackError) Unwrap() error { return ErrRollback }

// Floor is what CheckFloor found and decided: the floor to keep.
type Floor struct {
	component string
	// Previous is the recorded floor ("" if none).
	Previous string
	// Running is the running binary's version.
	Running string
	// Raise is true when the running version is to become the floor
	// because it is newer than the recorded one (or none is recorded).
	Raise bool
	// Downgrade is true when the running version is older than the floor
	// and the override lowers the floor to it.
	Downgrade bool
}

// CheckFloor reads component's version floor in db and decides whether
// the binary of p may open the component's state; test is the
// component's (authenticated) test mode. A binary older than the floor is
// refused with a *RollbackError unless p.AllowDowngrade; Authorize then
// checks the override's dual control. Record writes the decision, with
// its audit record, in the caller's transaction.
func CheckFloor(ctx context.Context, db *store.DB, component string, p Policy, test bool) (Floor, error) {
	if err := db.Migrate(ctx, floorComponent, floorMigrations); err != nil && !errors.Is(err, store.ErrSchemaTooNew) {
		return Floor{}, fmt.Errorf("release: failed to migrate the version floor: %w", err)
	}
	f := Floor{component: component, Running: p.RunningVersion()}
	err := db.QueryRow(ctx, `SELECT version FROM release_floor WHERE component = $1`, component).Scan(&f.Previous)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Floor{}, fmt.Errorf("release: failed to read the version floor: %w", err)
	}
	return f, f.decide(p.AllowDowngrade, test)
}

func (f *Floor) decide(allowDowngrade, test bool) error {
	if f.Running == Devel {
		if f.Previous == "" || test {
			return nil
		}
		return &RollbackError{Component: f.component, Floor: f.Previous, Running: Devel,
			Why: "a development build may open a production state only until a release has opened it, and cannot lower its floor"}
	}
	if err := CheckVersion(f.Running); err != nil {
		return fmt.Errorf("release: this binary's version: %w", err)
	}
	if f.Previous == "" {
		f.Raise = true
		return nil
	}
	c, err := Compare(f.Running, f.Previous)
	if err != nil {
		return fmt.Errorf("release: the recorded version floor of %s: %w", f.component, err)
	}
	switch {
	case c > 0:
		f.Raise = true
	case c < 0 && allowDowngrade:
		f.Downgrade = true
	case c < 0:
		return &RollbackError{Component: f.component, Floor: f.Previous, Running: f.Running}
	}
	return nil
}

// Changed reports whether Record has something to write.
func (f Floor) Changed() bool { return f.Raise || f.Downgrade }

// Authorize checks the dual control of a downgrade: a test component
// needs none; a production one needs at least two distinct officers
// authenticated by its custody (the sealed store's unlock, or a PKCS#11
// custody's officer registry, their passphrases given with the PIN).
func (f Floor) Authorize(test bool, officers []string) error {
	if !f.Downgrade || test {
		return nil
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(officers)))
	if len(distinct) < 2 {
		return &RollbackError{Component: f.component, Floor: f.Previous, Running: f.Running,
			Why: "lowering the floor needs dual control: at least two officers' passphrases authenticated by the custody (a PKCS#11 custody: its registered officers, given with the PIN)"}
	}
	return nil
}

// Action is the audit action of the change: COMPONENT.version.raise or
// COMPONENT.version.downgrade ("" if none).
func (f Floor) Action() string {
	switch {
	case f.Raise:
		return f.component + ".version.raise"
	case f.Downgrade:
		return f.component + ".version.downgrade"
	}
	return ""
}

// Details are the audit details of the change.
func (f Floor) Details() map[string]any {
	return map[string]any{"from": f.Previous, "to": f.Running}
}

// Audit returns the actor and details of the change's audit record: the
// system for a raise; for a downgrade the officers, named in the details.
func (f Floor) Audit(officers []string) (actor string, details map[string]any) {
	d := f.Details()
	if f.Downgrade {
		d["officers"] = officers
		return "officers", d
	}
	return "system", d
}

// Record writes the new floor in tx (nothing if !Changed). It reads the
// floor again first: if another process has changed it meanwhile, a
// downgrade fails, and so does a raise that it has overtaken.
func (f Floor) Record(ctx context.Context, tx *store.Tx, now time.Time) error {
	if !f.Changed() {
		return nil
	}
	var cur string
	err := tx.QueryRow(ctx, `SELECT version FROM release_floor WHERE component = $1`, f.component).Scan(&cur)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if cur != f.Previous {
		if c, cerr := Compare(f.Running, cur); cerr != nil || c < 0 || f.Downgrade {
			return &RollbackError{Component: f.component, Floor: cur, Running: f.Running,
				Why: "the floor changed while opening"}
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO release_floor (component, version, changed_ns) VALUES ($1, $2, $3)
		ON CONFLICT (component) DO UPDATE SET version = excluded.version, changed_ns = excluded.changed_ns`,
		f.component, f.Running, now.UnixNano())
	return err
}
