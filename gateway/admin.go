package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stskms/stskms/store"
)

// The states of mails and of replies, for listing and the metrics.
var (
	mailStates = []string{StateReceived, StateProcessing, StateReplied, StateIgnored, StateFailed}
	outStates  = []string{OutPending, OutSending, OutSent, OutFailed, OutBounced}
)

func allStates() []string {
	var all []string
	for _, s := range append(slices.Clone(mailStates), outStates...) {
		if !slices.Contains(all, s) {
			all = append(all, s)
		}
	}
	return all
}

func validState(s string) bool { return slices.Contains(allStates(), s) }

// AdminError is a queue administration request the gateway refuses; it
// changed nothing.
type AdminError struct{ Reason string }

// Error says why the administrative request was refused.
func (e *AdminError) Error() string { return "gateway: " + e.Reason }

// Errors of Retry, wrapped in a *RetryError naming the mail.
var (
	ErrNoSuchMail = errors.New("no such mail in the queue")
	ErrNotFailed  = errors.New("neither the mail nor any of its replies failed")
)

// RetryError says which mail a Retry refused; nothing was changed.
type RetryError struct {
	ID  int64
	Err error // ErrNoSuchMail or ErrNotFailed
}

// Error names the mail and why it cannot be retried.
func (e *RetryError) Error() string { return fmt.Sprintf("gateway: retry %d: %v", e.ID, e.Err) }

// Unwrap returns Err.
func (e *RetryError) Unwrap() error { return e.Err }

// RetryResult counts what a retry put back.
type RetryResult struct {
	// Mails went from failed back to received; Replies from failed back
	// to pending.
	Mails, Replies int64
}

// Retry puts the failed mails among ids back to received, and their
// failed replies back to pending, each with its attempts reset and due
// now, in one transaction: if any id names no mail, or a mail of which
// nothing failed, it changes nothing and returns a *RetryError.
func (g *Gateway) Retry(ctx context.Context, ids []int64) (RetryResult, error) {
	if len(ids) == 0 {
		return RetryResult{}, &AdminError{Reason: "retry: no mail given"}
	}
	var res RetryResult
	err := g.db.Tx(ctx, func(tx *store.Tx) error {
		res = RetryResult{}
		for _, id := range ids {
			var state string
			err := tx.QueryRow(ctx, `SELECT state FROM gateway_mail WHERE id = $1`, id).Scan(&state)
			if errors.Is(err, store.ErrNotFound) {
				return &RetryError{ID: id, Err: ErrNoSuchMail}
			}
			if err != nil {
				return err
			}
			r, err := g.retry(ctx, tx, id)
			if err != nil {
				return err
			}
			if r.Mails+r.Replies == 0 {
				return &RetryError{ID: id, Err: ErrNotFailed}
			}
			res.Mails, res.Replies = res.Mails+r.Mails, res.Replies+r.Replies
		}
		return nil
	})
	if err == nil {
		g.log.Info("gateway: queue retry", "mails", ids, "retried_mails", res.Mails, "retried_replies", res.Replies)
		g.mailReady.kick()
		g.outReady.kick()
	}
	return res, err
}

// RetryFailed puts every failed mail and every failed reply back, as
// Retry does.
func (g *Gateway) RetryFailed(ctx context.Context) (RetryResult, error) {
	var res RetryResult
	err := g.db.Tx(ctx, func(tx *store.Tx) (err error) {
		res, err = g.retry(ctx, tx, 0)
		return err
	})
	if err == nil {
		g.log.Info("gateway: queue retry of everything failed", "retried_mails", res.Mails, "retried_replies", res.Replies)
		g.mailReady.kick()
		g.outReady.kick()
	}
	return res, err
}

// retry puts the failed mail id (0: every failed mail) and its failed
// replies back. The attempts are reset by moving retry_base up to them:
// attempts, the fencing token of claims, never goes down.
func (g *Gateway) retry(ctx context.Context, tx *store.Tx, id int64) (RetryResult, error) {
	now := ns(g.now())
	var r RetryResult
	res, err := tx.Exec(ctx, `UPDATE gateway_mail SET state = $2, retry_base = attempts, next_ns = $3, lease_ns = 0,
		done_ns = 0, reason = '', result = '' WHERE state = $4 AND ($1 = 0 OR id = $1)`,
		id, StateReceived, now, StateFailed)
	if err != nil {
		return r, err
	}
	if r.Mails, err = res.RowsAffected(); err != nil {
		return r, err
	}
	res, err = tx.Exec(ctx, `UPDATE gateway_outbox SET state = $2, retry_base = attempts, next_ns = $3, lease_ns = 0,
		created_ns = $3, last_error = '' WHERE state = $4 AND ($1 = 0 OR mail_id = $1)`,
		id, OutPending, now, OutFailed)
	if err != nil {
		return r, err
	}
	r.Replies, err = res.RowsAffected()
	return r, err
}

// PurgeResult counts what a purge deleted (or, dry, would delete).
type PurgeResult struct {
	Before                  time.Time
	Mails, Replies, Bounces int64
	DryRun                  bool
}

// purgeSet selects the mails a purge deletes: finished ($1, $2, $3)
// before $4, with no reply still to send (all in $5, $6, $7).
const purgeSet = `SELECT m.id FROM gateway_mail m WHERE m.state IN ($1, $2, $3) AND m.done_ns > 0 AND m.done_ns < $4
	AND NOT EXISTS (SELECT 1 FROM gateway_outbox o WHERE o.mail_id = m.id AND o.state NOT IN ($5, $6, $7))`

// Purge deletes the finished mails (replied, ignored, failed) that
// finished more than olderThan ago, with their replies (all sent, failed
// or bounced) and the bounce records they brought, in one transaction. A
// mail still being worked on, or with a reply still to send, is never
// deleted. With dryRun it only counts.
func (g *Gateway) Purge(ctx context.Context, olderThan time.Duration, dryRun bool) (PurgeResult, error) {
	if olderThan <= 0 {
		return PurgeResult{}, &AdminError{Reason: "purge: the age must be positive"}
	}
	res := PurgeResult{Before: g.now().Add(-olderThan).UTC(), DryRun: dryRun}
	args := []any{StateReplied, StateIgnored, StateFailed, ns(res.Before), OutSent, OutFailed, OutBounced}
	steps := []struct {
		table, column string
		n             *int64
	}{
		{"gateway_bounce", "mail_id", &res.Bounces},
		{"gateway_outbox", "mail_id", &res.Replies},
		{"gateway_mail", "id", &res.Mails},
	}
	err := g.db.Tx(ctx, func(tx *store.Tx) error {
		for _, s := range steps {
			where := ` FROM ` + s.table + ` WHERE ` + s.column + ` IN (` + purgeSet + `)`
			if err := tx.QueryRow(ctx, `SELECT COUNT(*)`+where, args...).Scan(s.n); err != nil {
				return err
			}
			if dryRun {
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE`+where, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && !dryRun {
		g.log.Info("gateway: queue purge", "before", res.Before, "mails", res.Mails, "replies", res.Replies,
			"bounces", res.Bounces)
	}
	return res, err
}
