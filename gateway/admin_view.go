package gateway

import (
	"context"
	"slices"
	"time"

	"github.com/stskms/stskms/store"
)

// PurgePreview lists the mails PurgeBefore(ctx, before, false) would
// delete, oldest first, with their replies.
func (q *Queue) PurgePreview(ctx context.Context, before time.Time) ([]QueueEntry, error) {
	ids := map[int64]bool{}
	err := store.EachRow(ctx, q.db, purgeSet,
		[]any{StateReplied, StateIgnored, StateFailed, ns(before), OutSent, OutFailed, OutBounced},
		func(row store.Scanner) error {
			var id int64
			if err := row.Scan(&id); err != nil {
				return err
			}
			ids[id] = true
			return nil
		})
	if err != nil {
		return nil, err
	}
	all, err := q.List(ctx, "")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(e QueueEntry) bool { return !ids[e.ID] }), nil
}

// StateCount is how many mails, or replies, are in one state.
type StateCount struct {
	State string
	N     int64
}

// Counts counts the request mails and the replies by state, every state
// listed in its order, none left out.
func (q *Queue) Counts(ctx context.Context) (mails, replies []StateCount, err error) {
	if mails, err = q.countEach(ctx, "gateway_mail", mailStates); err != nil {
		return nil, nil, err
	}
	replies, err = q.countEach(ctx, "gateway_outbox", outStates)
	return mails, replies, err
}

// countEach is countStates of table in the order of states.
func (q *Queue) countEach(ctx context.Context, table string, states []string) ([]StateCount, error) {
	n, err := q.countStates(ctx, table)
	if err != nil {
		return nil, err
	}
	out := make([]StateCount, len(states))
	for i, s := range states {
		out[i] = StateCount{State: s, N: n[s]}
	}
	return out, nil
}

// States lists the states List filters by: the mail states, then the
// reply states not among them.
func States() []string { return allStates() }
