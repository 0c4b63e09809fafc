package smconsole

import (
	"context"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
)

// activityPage is the page /console/activity: the token requests m
// answered with tokens, by class, over time (sm.Module.IssueCounts:
// "token.list").
func activityPage(m *sm.Module) console.Page {
	return console.ChartsPage("activity", "Activity", "token.list",
		console.PageChart{Name: "tokens", Chart: func(ctx context.Context, a role.Actor, q console.Query) (*console.Chart, error) {
			return tokensChart(ctx, m, a, q.Period(), time.Now())
		}})
}

// tokensChart counts the token requests m answered in the period p ending
// now, by class.
func tokensChart(ctx context.Context, m *sm.Module, a role.Actor, p console.Period, now time.Time) (*console.Chart, error) {
	c := console.NewChart("Token requests answered, by class", "requests", p, now)
	counts, err := m.IssueCounts(ctx, a, sm.IssueFilter{From: c.Start}, p.Step)
	for _, n := range counts {
		if i, ok := c.Step(n.Start); ok {
			c.Line(n.Class.String()).Values[i] += float64(n.Requests)
		}
	}
	return c, err
}
