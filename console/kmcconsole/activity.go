package kmcconsole

import (
	"context"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
)

// activity draws the KMC's charts: Key Load Files issued and refused, and
// the gateway's requests (queue nil: none).
type activity struct {
	k     *kmc.KMC
	queue *gateway.Queue
	now   func() time.Time
}

// activityPage is the page /console/activity: the charts of k and queue,
// for the roles that may list the files issued and the refusals
// (kmc.OpKLFList).
func activityPage(k *kmc.KMC, queue *gateway.Queue) console.Page {
	a := activity{k: k, queue: queue, now: time.Now}
	return console.ChartsPage("activity", "Activity", kmc.OpKLFList,
		console.PageChart{Name: "klfs", Chart: a.klfs},
		console.PageChart{Name: "refusals", Chart: a.refusals},
		console.PageChart{Name: "requests", Chart: a.requests},
		console.PageChart{Name: "latency", Chart: a.latency})
}

// klfs charts the Key Load Files issued.
func (a activity) klfs(ctx context.Context, actor role.Actor, q console.Query) (*console.Chart, error) {
	c := console.NewChart("Key Load Files issued", "files", q.Period(), a.now())
	c.Line("issued")
	return c, a.k.KLFActivity(ctx, actor, c.Start, func(e kmc.KLFEvent) error {
		if e.Code == "" {
			c.Count("issued", e.Time)
		}
		return nil
	})
}

// refusals charts the requests refused, by code (RefusalCounts).
func (a activity) refusals(ctx context.Context, actor role.Actor, q console.Query) (*console.Chart, error) {
	c := console.NewChart("Requests refused, by code", "requests", q.Period(), a.now())
	counts, err := RefusalCounts(ctx, a.k, actor, c.Start, time.Time{}, c.Period.Step)
	for _, n := range counts {
		if i, ok := c.Step(n.Start); ok {
			c.Line(string(n.Code)).Values[i] += float64(n.N)
		}
	}
	return c, err
}

// answers calls fn with the gateway's answers of c's period, for a person
// who may read the KMC (none without a gateway).
func (a activity) answers(ctx context.Context, actor role.Actor, c *console.Chart, fn func(gateway.Answer) error) error {
	if err := kmc.Allow(actor, kmc.OpRead); err != nil || a.queue == nil {
		return err
	}
	return a.queue.Answers(ctx, c.Start, fn)
}

// requests charts the gateway's requests by result code.
func (a activity) requests(ctx context.Context, actor role.Actor, q console.Query) (*console.Chart, error) {
	c := console.NewChart("Gateway requests answered, by result", "requests", q.Period(), a.now())
	return c, a.answers(ctx, actor, c, func(ans gateway.Answer) error {
		c.Count(ans.Result, ans.Time)
		return nil
	})
}

// latency charts how long the gateway took from a request's acceptance to
// its reply handed to the relay: the mean and the slowest of each step.
func (a activity) latency(ctx context.Context, actor role.Actor, q console.Query) (*console.Chart, error) {
	c := console.NewChart("Gateway reply latency", "seconds", q.Period(), a.now())
	c.Decimals = 3
	mean, slowest := c.Line("mean"), c.Line("slowest")
	n := make([]int, len(mean.Values))
	err := a.answers(ctx, actor, c, func(ans gateway.Answer) error {
		i, ok := c.Step(ans.Time)
		if !ok || ans.Latency <= 0 {
			return nil
		}
		s := ans.Latency.Seconds()
		n[i]++
		mean.Values[i] += s
		slowest.Values[i] = max(slowest.Values[i], s)
		return nil
	})
	for i := range n {
		if n[i] > 0 {
			mean.Values[i] /= float64(n[i])
		}
	}
	return c, err
}
