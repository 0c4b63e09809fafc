package kmcconsole

import (
	"cmp"
	"context"
	_ "embed"
	"maps"
	"slices"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
)

//go:embed refusals.html
var refusalsTemplate string

// refusalKinds names the audit log's records of refused requests: the KMC
// records each refused Key Load File request of a registered module
// ("klf.refuse") and each refused registry update ("sm.update.refuse"),
// with its kmc.Code.
var refusalKinds = map[string]string{"klf.refuse": "Key Load File request", "sm.update.refuse": "Registry update"}

// Refusal is one refused request as the audit log records it.
type Refusal struct {
	Seq     int64
	Time    time.Time
	Kind    string // what was refused, for people
	Code    kmc.Code
	Subject string // the module's SMID, or the code of an update
	Actor   string // who sent the request on (the gateway, an API caller)
}

// Description is the code's words for the requester.
func (r Refusal) Description() string { return r.Code.Description() }

// refusals calls fn with each refusal of the KMC's audit log made from ≤ t
// < until (a zero until is open), in the log's order.
func refusals(ctx context.Context, log *audit.Log, from, until time.Time, fn func(Refusal)) error {
	return log.Since(ctx, from, slices.Sorted(maps.Keys(refusalKinds)), func(r audit.Record) error {
		if !until.IsZero() && !r.Time.Before(until) {
			return nil
		}
		fn(Refusal{Seq: r.Seq, Time: r.Time, Kind: refusalKinds[r.Action], Code: kmc.RefusalCode(r), Subject: r.Subject, Actor: r.Actor})
		return nil
	})
}

// Count is how many refusals of one code fall in one period.
type Count struct {
	Start time.Time // the period's start, UTC
	Code  kmc.Code
	N     int
}

// RefusalCounts returns how many requests the KMC refused, per code, in
// each period of length step (an hour or a day: periods start at whole
// multiples of step since the Unix epoch, UTC) from ≤ t < until, by start
// and code; periods without refusals are left out. a must be allowed
// kmc.OpKLFList, as for the refusals page. For charts.
func RefusalCounts(ctx context.Context, k *kmc.KMC, a role.Actor, from, until time.Time, step time.Duration) ([]Count, error) {
	if err := kmc.Allow(a, kmc.OpKLFList); err != nil {
		return nil, err
	}
	if step <= 0 {
		step = 24 * time.Hour
	}
	n := map[Count]int{}
	err := refusals(ctx, k.AuditLog(), from, until, func(r Refusal) {
		n[Count{Start: r.Time.Truncate(step).UTC(), Code: r.Code}]++
	})
	if err != nil {
		return nil, err
	}
	out := make([]Count, 0, len(n))
	for c, v := range n {
		c.N = v
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y Count) int {
		return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.Code, y.Code))
	})
	return out, nil
}

// CodeCount is how many refusals of one code a period holds.
type CodeCount struct {
	Code kmc.Code
	N    int
}

// Description is the code's words for the requester.
func (c CodeCount) Description() string { return c.Code.Description() }

// Refusals is what the refusals page shows.
type Refusals struct {
	From, To string      // the period's days as asked (UTC, both included)
	Codes    []CodeCount // most frequent first
	Total    int
	Latest   []Refusal // newest first, paged
	Window   console.Window
}

// refusalsPage is /console/refusals.
func refusalsPage(k *kmc.KMC) console.Page {
	return page("refusals", "Refusals", kmc.OpKLFList, refusalsTemplate,
		func(ctx context.Context, q console.Query) (*Refusals, error) {
			return refusalsOf(ctx, k, q, time.Now())
		})
}

// defaultDays is the period the refusals page shows unless asked: the
// last 30 days, today included.
const defaultDays = 30

// refusalsOf reads the refusals of the period q asks for ("from", "to";
// the last defaultDays days up to now's if neither is given).
func refusalsOf(ctx context.Context, k *kmc.KMC, q console.Query, now time.Time) (*Refusals, error) {
	if q.Get("from") == "" && q.Get("to") == "" {
		today := now.UTC().Truncate(24 * time.Hour)
		q = console.Query{Values: maps.Clone(q.Values)} // Set replaces a value's slice: the caller's query stays as it was
		q.Set("from", today.AddDate(0, 0, 1-defaultDays).Format(console.DateLayout))
		q.Set("to", today.Format(console.DateLayout))
	}
	from, until, err := q.Days()
	if err != nil {
		return nil, err
	}
	d := &Refusals{From: q.Get("from"), To: q.Get("to")}
	var all []Refusal
	byCode := map[kmc.Code]int{}
	if err := refusals(ctx, k.AuditLog(), from, until, func(r Refusal) {
		all = append(all, r)
		byCode[r.Code]++
	}); err != nil {
		return nil, err
	}
	for c, n := range byCode {
		d.Codes = append(d.Codes, CodeCount{Code: c, N: n})
	}
	slices.SortFunc(d.Codes, func(x, y CodeCount) int { return cmp.Or(cmp.Compare(y.N, x.N), cmp.Compare(x.Code, y.Code)) })
	slices.Reverse(all)
	d.Total = len(all)
	d.Latest, d.Window = console.Paged(q.Window(), all)
	return d, nil
}
