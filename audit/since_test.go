package audit_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
)

// TestSince: Since streams the records of the actions asked for appended
// from a time on, in Seq order, checked against the whole log filtered
// here; no action asks for nothing, and fn's error ends it as is.
func TestSince(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		appendEach(t, l, 30, func(i int) audit.Entry {
			e := entry(i)
			e.Action = []string{"klf.issue", "klf.refuse", "token.credit"}[i%3]
			return e
		})
		all := records(t, l)
		from := all[12].Time
		var want []int64
		for _, r := range all {
			if !r.Time.Before(from) && (r.Action == "klf.issue" || r.Action == "token.credit") {
				want = append(want, r.Seq)
			}
		}
		var got []int64
		if err := l.Since(ctx, from, []string{"token.credit", "klf.issue"}, func(r audit.Record) error {
			got = append(got, r.Seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("seqs %v, want %v", got, want)
		}
		if err := l.Since(ctx, from, nil, func(audit.Record) error { return errors.New("called") }); err != nil {
			t.Errorf("no actions: %v", err)
		}
		stop := errors.New("stop")
		if err := l.Since(ctx, from, []string{"klf.refuse"}, func(audit.Record) error { return stop }); err != stop {
			t.Errorf("fn's error: %v", err)
		}
	})
}
