package smconsole

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
)

//go:embed selftest.html
var selftestTemplate string

// selftestPage shows the module's last self-test report and offers a new
// run ("module.selftest", sm.Module.Selftest, which audits it with the
// person's name).
func selftestPage(m *sm.Module) console.Page {
	return console.Page{Path: "selftest", Title: "Self-test", Template: selftestTemplate,
		Data: func(context.Context, role.Actor, console.Query) (any, error) { return selftestOf(m), nil },
		Actions: []console.Action{{Name: "run", Op: "module.selftest", Do: func(ctx context.Context, c console.Call) (string, error) {
			rep, err := m.Selftest(ctx, c.Actor)
			if err != nil {
				return "", err
			}
			return selftestOutcome(rep), nil
		}}},
	}
}

// Selftest is what the self-test page shows.
type Selftest struct {
	sm.SelftestReport
	Tests []SelftestRow
	Fault string // why the module is in its error state, or ""
}

// SelftestRow is one test of the report, its time taken for people.
type SelftestRow struct {
	sm.SelftestResult
	Took string // "1.2 ms"
}

// selftestOf reads the self-test page: the report needs no role.
func selftestOf(m *sm.Module) *Selftest {
	out := &Selftest{SelftestReport: m.LastSelftest()}
	for _, r := range out.Results {
		out.Tests = append(out.Tests, SelftestRow{SelftestResult: r, Took: took(r.Took)})
	}
	out.Fault = faultOf(m)
	return out
}

// faultOf says why m is in its error state, or "": a module in it lists
// nothing, and its pages say so instead.
func faultOf(m *sm.Module) string {
	if f := m.Fault(); f != nil {
		return f.Error()
	}
	return ""
}

// took writes a test's duration: "41 µs", "4.1 ms".
func took(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// selftestOutcome says what a run found, for the page that follows it.
func selftestOutcome(rep sm.SelftestReport) string {
	at := rep.Time.UTC().Format("2006-01-02 15:04:05 UTC")
	if rep.OK {
		return fmt.Sprintf("All %d self-tests passed (run %s).", len(rep.Results), at)
	}
	return fmt.Sprintf("The self-tests failed (run %s): %s. The module is in its error state and refuses to work.", at, rep.Failure())
}
