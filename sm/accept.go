package sm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/keptcheckpoint"
)

// Accepting a rolled-back database on a running module: a module whose
// database does not extend its kept audit checkpoint opens in its error
// state (kept.go). The officers may accept it from the command line, by
// opening it again (`stskms sm accept-rollback`), or while it runs, by
// two officers through a front end that authenticates each of them (the
// operator console's two-person approval): AcceptRollback. Both record
// the same sm.rollback.accept and keep the log's checkpoint
// (acceptRollback); the running module then leaves the error state.

// MaxWhyLen is the longest account, in bytes, the officers may give of
// why they accept a rolled-back database (AcceptRollback).
const MaxWhyLen = 1000

// Rollback is the database a module found, at Open, not to extend the
// audit checkpoint kept outside it, as the officers are asked to accept
// it: AcceptRollback takes it back, and refuses if the module's state is
// no longer this one. It is comparable with ==.
type Rollback struct {
	// Kind is what the database was: "rolled back", "forked", … (in
	// words).
	Kind string
	// Reason says why the log does not extend the kept checkpoint.
	Reason string
	// Kept says where the checkpoint is kept; KeptSize is its number of
	// records, and KeptSHA256 the SHA-256, in hex, of the signed
	// checkpoint kept there ("" if it could not be read).
	Kept       string
	KeptSize   int64
	KeptSHA256 string
	// LogSize and LogHead are the database's audit log as Open found it:
	// its number of records and the hash, in hex, of its last record.
	LogSize int64
	LogHead string
}

// pendingRollback is a rollback found at Open and not yet accepted.
type pendingRollback struct {
	seen  Rollback
	cpe   *audit.CheckpointError
	fault *Error // the error state it put the module in
}

// holdRollback keeps what Open found, for AcceptRollback.
func (m *Module) holdRollback(ctx context.Context, cpe *audit.CheckpointError, fault *Error) error {
	r := Rollback{Kind: keptcheckpoint.What(cpe.Kind), Reason: cpe.Reason, Kept: m.kept.guard.Path(), KeptSize: cpe.Size}
	if kept, err := m.kept.guard.Kept(); err == nil && kept != nil {
		sum := sha256.Sum256(kept)
		r.KeptSHA256 = hex.EncodeToString(sum[:])
	}
	size, head, err := logHead(ctx, m.log)
	if err != nil {
		return fmt.Errorf("sm: failed to read the audit log's head: %w", err)
	}
	r.LogSize, r.LogHead = size, head
	m.kept.pending = &pendingRollback{seen: r, cpe: cpe, fault: fault}
	return nil
}

// logHead returns the number of records of l and the hash, in hex, of
// its last record ("" if it has none).
func logHead(ctx context.Context, l *audit.Log) (int64, string, error) {
	size, err := l.Size(ctx)
	if err != nil || size == 0 {
		return size, "", err
	}
	var head string
	err = l.Records(ctx, size, func(r audit.Record) error {
		if r.Seq == size {
			head = hex.EncodeToString(r.Hash[:])
		}
		return nil
	})
	return size, head, err
}

// PendingRollback returns the rolled-back database the module is in its
// error state for, and whether there is one to accept. It needs no role:
// it says no more than Fault.
func (m *Module) PendingRollback() (Rollback, bool) {
	m.kept.mu.Lock()
	defer m.kept.mu.Unlock()
	if m.kept.pending == nil {
		return Rollback{}, false
	}
	return m.kept.pending.seen, true
}

// AcceptRollback accepts, on the running module, the rolled-back database
// seen (PendingRollback) as `stskms sm accept-rollback` does: a is the
// caller DualControl returns for two officers registered with the
// module's custody, why their account of it (required, at most MaxWhyLen
// bytes), both audited in sm.rollback.accept; the log's checkpoint is
// then kept in place of the old one. The module leaves its error state, unless its
// self-tests, run again, fail. It refuses (ErrNoRollback) when it is in
// no such state or in another one than seen, and a single officer
// (ErrRole); a refusal changes nothing.
func (m *Module) AcceptRollback(ctx context.Context, a Actor, seen Rollback, why string) error {
	if m.closed.Load() {
		return refuse(ErrClosed, "")
	}
	officers, err := m.dualOfficers(a)
	if err != nil {
		return err
	}
	why = strings.TrimSpace(why)
	if why == "" || len(why) > MaxWhyLen || !utf8.ValidString(why) {
		return refuse(ErrInvalidRequest, "say why the officers accept the database: 1 to %d bytes of text", MaxWhyLen)
	}
	m.kept.mu.Lock()
	defer m.kept.mu.Unlock()
	p := m.kept.pending
	switch {
	case p == nil:
		return refuse(ErrNoRollback, "the database extends the kept audit checkpoint: nothing to accept")
	case p.seen != seen:
		return refuse(ErrNoRollback, "the module found another database than the one proposed (the kept checkpoint of %d records, the log of %d records at %s)",
			p.seen.KeptSize, p.seen.LogSize, p.seen.LogHead)
	}
	if err := m.acceptRollback(ctx, p.cpe, officers, a.String(), why); err != nil {
		return err
	}
	m.kept.pending = nil
	m.leaveFault(ctx, p.fault)
	return nil
}

// dualOfficers returns the two officers of an Actor of DualControl
// ("officer:A+B"; an officer's name holds no '+', keystore.CheckName),
// checked again by DualControl, or refuses anyone else (ErrRole).
func (m *Module) dualOfficers(a Actor) ([]string, error) {
	if err := allow(a, "rollback.accept"); err != nil {
		return nil, err
	}
	first, second, ok := strings.Cut(a.Name, "+")
	if !ok {
		return nil, refuse(ErrRole, "accepting a rolled-back database needs dual control: two officers must authorise it")
	}
	if _, err := m.DualControl(Officer.As(first), Officer.As(second)); err != nil {
		return nil, err
	}
	return []string{first, second}, nil
}

// leaveFault ends the error state fault put the module in, if it is still
// the one (a self-test failure since stays), and runs the self-tests
// again: a failure puts the module back in its error state.
func (m *Module) leaveFault(ctx context.Context, fault *Error) {
	if !m.fault.CompareAndSwap(fault, nil) {
		return
	}
	if rep := m.runSelftest(ctx); !rep.OK {
		m.fault.CompareAndSwap(nil, refuse(ErrSelfTest, "%s", rep.Failure()))
	}
}
