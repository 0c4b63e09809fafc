package smconsole

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
)

//go:embed registers.html
var registersTemplate string

// registersPage lists the vending key registers — their attributes and
// credit limits, never a key ("register.list", sm.Module.Registers) —
// filtered by supply group and paged on the server.
func registersPage(m *sm.Module) console.Page {
	return console.Page{Path: "registers", Title: "Key registers", Op: "register.list", Template: registersTemplate,
		Data: func(ctx context.Context, a role.Actor, q console.Query) (any, error) {
			return registersOf(ctx, m, a, q, time.Now())
		}}
}

// Registers is what the registers page shows.
type Registers struct {
	Fault  string // why the module is in its error state (and lists none), or ""
	SGC    string // the supply group asked for, or ""
	Rows   []RegisterRow
	Window console.Window
}

// RegisterRow is one register with its state and credit limit for people.
type RegisterRow struct {
	sm.Register
	State string // "active", "not yet active", "expired", "credit limit used up"
	Bad   bool   // the register issues no credit token now
	// Used and Left are the credit limit's, in credit units (tenths of
	// the token's unit, hundredths of a currency unit), grouped by
	// thousands; UsedPercent of the limit as loaded.
	Used, Left, UsedPercent string
}

// sgcDigits is how many digits a supply group code has at most.
const sgcDigits = 6

// registersOf reads the registers page for a, at now. The module checks
// a's role itself.
func registersOf(ctx context.Context, m *sm.Module, a role.Actor, q console.Query, now time.Time) (*Registers, error) {
	sgc, bySGC, err := q.Number("sgc", sgcDigits)
	if err != nil {
		return nil, err
	}
	out := &Registers{Fault: faultOf(m), Window: q.Window().Of(0)}
	if out.Fault != "" {
		return out, nil
	}
	all, err := m.Registers(ctx, a)
	if err != nil {
		return nil, err
	}
	var rows []RegisterRow
	for _, r := range all {
		if !bySGC || uint64(r.SGC) == sgc {
			rows = append(rows, registerRow(r, now))
		}
	}
	if bySGC {
		out.SGC = fmt.Sprintf("%06d", sgc)
	}
	out.Rows, out.Window = console.Paged(q.Window(), rows)
	return out, nil
}

// registerRow is r as the page shows it at now.
func registerRow(r sm.Register, now time.Time) RegisterRow {
	row := RegisterRow{Register: r, State: "active", Left: grouped(uint64(r.CLM))}
	used := uint64(0)
	if r.CLMLoaded > r.CLM {
		used = uint64(r.CLMLoaded - r.CLM)
	}
	row.Used = grouped(used)
	if r.CLMLoaded > 0 {
		row.UsedPercent = strconv.FormatFloat(100*float64(used)/float64(r.CLMLoaded), 'f', 1, 64) + " %"
	}
	switch {
	case now.Before(r.ACT):
		row.State, row.Bad = "not yet active", true
	case now.After(r.IUT):
		row.State, row.Bad = "expired", true
	case r.CLM == 0:
		row.State, row.Bad = "credit limit used up", true
	}
	return row
}

// grouped writes n with its digits grouped by thousands: "4 294 967 295".
func grouped(n uint64) string {
	s := strconv.FormatUint(n, 10)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ' ')
		}
		out = append(out, s[i])
	}
	return string(out)
}
