package kmc

import (
	"context"
	"fmt"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
)

// PruneResult is what Prune removed.
type PruneResult struct {
	// Cutoff is the KMC's clock less the age given: rows older than it
	// were removed.
	Cutoff time.Time
	// Requests is the number of seen requests removed (each with its
	// issued Key Load File), Answers the number of remembered answers to
	// registry updates.
	Requests, Answers int64
}

// MinPruneAge returns the least age Prune accepts: twice the freshness
// window. A request made more than one window before the KMC's clock is
// refused as EVkloadExpired before the replay check, so its seen-request
// row can never again decide an answer; the second window is a margin for
// clocks of KMC processes sharing one database that differ, and for
// requests in flight while Prune runs.
func (k *KMC) MinPruneAge() time.Duration { return 2 * k.window }

// Prune removes what only serves requests older than before, which must be
// at least MinPruneAge (else ErrInvalid):
//
//   - seen requests (the replay table of VKLOAD.REQ.1, with the Key Load
//     File issued for each) whose request time and issue time both lie
//     before the cutoff: such a request is refused as EVkloadExpired
//     whatever is stored, so removing it never lets a replay through and
//     never lets a second, different file be issued for it;
//   - remembered answers to registry updates (UpdateOptions.Ref) given
//     before the cutoff. The sequence numbers of applied updates stay, so
//     a pruned update is still refused as ESmUpdateStale.
//
// What pruning does cost: a gateway that retries a delivery (the same Ref)
// after the cutoff gets EVkloadExpired, not the file issued before, so
// before should exceed the longest a gateway may hold a request in flight
// (its retries and deferrals; docs/kmc.md). One audit record (kmc.prune)
// gives the cutoff and the counts.
func (k *KMC) Prune(ctx context.Context, actor string, before time.Duration) (PruneResult, error) {
	if _, err := k.Identity(); err != nil {
		return PruneResult{}, err
	}
	if before < k.MinPruneAge() {
		return PruneResult{}, fmt.Errorf("%w: prune age %v, at least %v (twice the freshness window)", ErrInvalid, before, k.MinPruneAge())
	}
	res := PruneResult{Cutoff: k.now().UTC().Add(-before).Truncate(time.Second)}
	cut := res.Cutoff.Unix()
	err := k.tx(ctx, func(tx *store.Tx) error {
		var err error
		if res.Requests, err = deleted(tx.Exec(ctx, `DELETE FROM seen_requests WHERE t_req < $1 AND t_issue < $1`, cut)); err != nil {
			return err
		}
		if res.Answers, err = deleted(tx.Exec(ctx, `DELETE FROM sm_update_answers WHERE answered_at < $1`, cut)); err != nil {
			return err
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "kmc.prune", Subject: res.Cutoff.Format(records.TimeLayout),
			Details: map[string]any{"before": before.String(), "requests": res.Requests, "update_answers": res.Answers}})
		return err
	})
	if err != nil {
		return PruneResult{}, failed("prune", err)
	}
	return res, nil
}

// deleted returns the number of rows a DELETE removed.
func deleted(res interface{ RowsAffected() (int64, error) }, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
