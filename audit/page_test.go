package audit_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
)

// TestPage: a page holds the records the filter selects, newest first,
// from the right one, and the total counts them all; Upto keeps the pages
// as they were while the log grows. Every answer is checked against the
// whole log filtered here.
func TestPage(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		appendEach(t, l, 60, func(i int) audit.Entry {
			e := entry(i)
			e.Actor = fmt.Sprintf("operator:op-%d", i%3)
			e.Action = []string{"token.issue", "token.verify", "klf.load", "tokenish"}[i%4]
			return e
		})
		all := records(t, l)
		slices.Reverse(all)
		from, to := all[40].Time, all[10].Time // seqs 20 to 49
		for _, tc := range []struct {
			name    string
			f       audit.Filter
			skip, n int
		}{
			{"everything", audit.Filter{}, 0, 25},
			{"page 2", audit.Filter{}, 25, 25},
			{"last page", audit.Filter{}, 50, 25},
			{"past the end", audit.Filter{}, 70, 25},
			{"upto", audit.Filter{Upto: 30}, 10, 25},
			{"action prefix", audit.Filter{Action: "token."}, 5, 10},
			{"actor", audit.Filter{Actor: "operator:op-1"}, 0, 7},
			{"dates", audit.Filter{From: from, To: to}, 3, 10},
			{"all of them", audit.Filter{Action: "klf", Actor: "operator:op-2", From: from, To: to, Upto: 45}, 0, 50},
			{"no match", audit.Filter{Actor: "officer:nobody"}, 0, 10},
			{"like is not used", audit.Filter{Action: "token%"}, 0, 10},
		} {
			got, total, err := l.Page(ctx, tc.f, tc.skip, tc.n)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			want := selected(all, tc.f)
			if total != int64(len(want)) {
				t.Errorf("%s: total %d, want %d", tc.name, total, len(want))
			}
			want = want[min(tc.skip, len(want)):min(tc.skip+tc.n, len(want))]
			if !slices.Equal(seqs(got), seqs(want)) {
				t.Errorf("%s: seqs %v, want %v", tc.name, seqs(got), seqs(want))
			}
		}
		if _, _, err := l.Page(ctx, audit.Filter{}, -1, 10); err == nil {
			t.Error("a negative skip was taken")
		}
		got, _, _ := l.Page(ctx, audit.Filter{}, 0, 1)
		if len(got) != 1 || got[0].Hash != all[0].Hash || got[0].Time != all[0].Time {
			t.Errorf("newest record %+v, want %+v", got, all[0])
		}
	})
}

// selected returns the records of all (newest first) that f selects.
func selected(all []audit.Record, f audit.Filter) []audit.Record {
	var out []audit.Record
	for _, r := range all {
		if (f.Upto == 0 || r.Seq <= f.Upto) && strings.HasPrefix(r.Action, f.Action) &&
			(f.Actor == "" || r.Actor == f.Actor) && inRange(r.Time, f.From, f.To) {
			out = append(out, r)
		}
	}
	return out
}

func inRange(t, from, to time.Time) bool {
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

// seqs returns the Seq of each record of rs.
func seqs(rs []audit.Record) []int64 {
	out := []int64{}
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}
