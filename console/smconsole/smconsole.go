// Package smconsole is the operator console's page set of a security
// module (package console, docs/console.md): its identity, self-test
// state and KEK slots, with the module's own role table (sm.Allow) as the
// console's rules.
package smconsole

import (
	"context"
	_ "embed"
	"errors"
	"sort"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
)

//go:embed identity.html
var identityTemplate string

// Site returns the console's site of m.
func Site(m *sm.Module) console.Site {
	return console.Site{
		Name:    "Security module",
		Allow:   sm.Allow,
		Explain: api.Explain,
		Pages: []console.Page{{Title: "Module identity", Template: identityTemplate,
			Data: func(ctx context.Context, a role.Actor, _ console.Query) (any, error) { return identityOf(ctx, m, a) }},
			selftestPage(m),
			registersPage(m),
			tokensPage(m),
			auditPage(m),
			activityPage(m),
			slotOpsPage(m),
			klfLoadPage(m),
			recoverPage(m),
		},
	}
}

// Identity is what the identity page shows.
type Identity struct {
	sm.Identity
	Firmware   []Firmware
	Release    string
	TestTables bool
	Fault      string // why the module is in its error state, or ""
	RolledBack bool   // the error state is a database to accept (recover.go)
	Selftest   sm.SelftestReport
	// Slots are the KEK slots, if a's role may list them (SlotsRefused
	// otherwise).
	Slots        []sm.Slot
	SlotsRefused bool
}

// Firmware is one API's firmware identifier.
type Firmware struct{ API, ID string }

// identityOf reads the identity page for a. The module checks a's role
// for the slots itself (sm.Module.Slots).
func identityOf(ctx context.Context, m *sm.Module, a role.Actor) (*Identity, error) {
	id := m.Identify()
	out := &Identity{Identity: id, Release: m.Release().String(), TestTables: m.TestTables(), Selftest: m.LastSelftest()}
	for api, fw := range id.Firmware {
		out.Firmware = append(out.Firmware, Firmware{API: string(api), ID: fw})
	}
	sort.Slice(out.Firmware, func(i, j int) bool { return out.Firmware[i].API < out.Firmware[j].API })
	if f := m.Fault(); f != nil {
		out.Fault = f.Error()
		_, out.RolledBack = m.PendingRollback()
		return out, nil
	}
	slots, err := m.Slots(ctx, a)
	switch {
	case errors.Is(err, sm.ErrRole):
		out.SlotsRefused = true
	case err != nil:
		return nil, err
	}
	out.Slots = slots
	return out, nil
}
