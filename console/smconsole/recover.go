package smconsole

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
)

//go:embed recover.html
var recoverTemplate string

// recoverPage is the page of a module whose database does not extend its
// kept audit checkpoint (a restored backup, a rolled-back or forked
// database), which keeps it in its error state: two officers may accept
// the database there, one proposing and a different one approving
// (console.Action.Dual), as `stskms sm accept-rollback` does. The
// proposal names the state accepted — the kept checkpoint and the log as
// the module found them — so an approval accepts that state only.
func recoverPage(m *sm.Module) console.Page {
	return console.Page{Path: "recover", Title: "Recovery", Template: recoverTemplate,
		Data: func(context.Context, role.Actor, console.Query) (any, error) { return recoveryOf(m), nil },
		Actions: []console.Action{{Name: "accept", Op: "rollback.accept", Dual: true,
			Describe: func(_ context.Context, c console.Call) (console.Operation, error) { return describeAccept(m, c) },
			Do:       func(ctx context.Context, c console.Call) (string, error) { return acceptRollback(ctx, m, c) }}}}
}

// Recovery is what the recovery page shows.
type Recovery struct {
	Rollback sm.Rollback
	Pending  bool   // there is a rolled-back database to accept
	Fault    string // why the module is in its error state, or ""
	Accepted string // the rollback accepted since the module opened, or ""
}

// recoveryOf reads the recovery page.
func recoveryOf(m *sm.Module) Recovery {
	r := Recovery{Accepted: m.AcceptedRollback(), Fault: faultOf(m)}
	r.Rollback, r.Pending = m.PendingRollback()
	return r
}

// rollbackParams are the canonical parameters of the state r, which
// rollbackOf reads back.
func rollbackParams(r sm.Rollback) map[string]string {
	return map[string]string{"kind": r.Kind, "reason": r.Reason, "kept": r.Kept, "kept_size": strconv.FormatInt(r.KeptSize, 10),
		"kept_sha256": r.KeptSHA256, "log_size": strconv.FormatInt(r.LogSize, 10), "log_head": r.LogHead}
}

// rollbackOf reads the state of an approved proposal's parameters.
func rollbackOf(c console.Call) (sm.Rollback, error) {
	kept, err1 := strconv.ParseInt(c.Form.Get("kept_size"), 10, 64)
	size, err2 := strconv.ParseInt(c.Form.Get("log_size"), 10, 64)
	if err1 != nil || err2 != nil {
		return sm.Rollback{}, console.BadInput("kept_size", "not a number of records")
	}
	return sm.Rollback{Kind: c.Form.Get("kind"), Reason: c.Form.Get("reason"), Kept: c.Form.Get("kept"), KeptSize: kept,
		KeptSHA256: c.Form.Get("kept_sha256"), LogSize: size, LogHead: c.Form.Get("log_head")}, nil
}

// describeAccept is the acceptance a form asks for: the rolled-back
// database the module is in its error state for, and the officer's
// account of why (the field "why"), both in what the officers sign.
func describeAccept(m *sm.Module, c console.Call) (console.Operation, error) {
	r, ok := m.PendingRollback()
	if !ok {
		return console.Operation{}, fmt.Errorf("%w: the database extends the kept audit checkpoint: nothing to accept", sm.ErrNoRollback)
	}
	why := strings.TrimSpace(c.Form.Get("why"))
	if why == "" || len(why) > sm.MaxWhyLen || len(c.Form["why"]) != 1 {
		return console.Operation{}, console.BadInput("why", fmt.Sprintf("say why the officers accept this database (what was restored, what was reconciled), up to %d bytes", sm.MaxWhyLen))
	}
	p := rollbackParams(r)
	p["why"] = why
	return console.Operation{Kind: "sm.rollback.accept", Params: p,
		Words: fmt.Sprintf("Accept the restored database and go on from it: the database was %s (%s); the checkpoint kept in %s has %d audit records "+
			"(SHA-256 %s), the database's log had %d records (head %s) when the module opened. The module leaves its error state; "+
			"tokens issued after the restored state may be issued again. The officers say: %s",
			r.Kind, r.Reason, r.Kept, r.KeptSize, orNone(r.KeptSHA256), r.LogSize, orNone(r.LogHead), why)}, nil
}

// orNone is s, or "none" if it is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// acceptRollback accepts the rolled-back database of an approved
// proposal, by the two officers (sm.Module.DualControl), if the module is
// still in that state (sm.Module.AcceptRollback refuses another).
func acceptRollback(ctx context.Context, m *sm.Module, c console.Call) (string, error) {
	a, err := m.DualControl(c.Actor, c.Approver)
	if err != nil {
		return "", err
	}
	r, err := rollbackOf(c)
	if err != nil {
		return "", err
	}
	if err := m.AcceptRollback(ctx, a, r, c.Form.Get("why")); err != nil {
		return "", err
	}
	if f := m.Fault(); f != nil {
		return fmt.Sprintf("The database is accepted (%s), but the module is still in its error state: %v", m.AcceptedRollback(), f), nil
	}
	return fmt.Sprintf("The database is accepted and the module serves again: %s.", m.AcceptedRollback()), nil
}
