package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
func (q *Queue) Retry(ctx context.Context, ids []int64) (RetryResult, error) {
	if len(ids) == 0 {
		return RetryResult{}, &AdminError{Reason: "retry: no mail given"}
	}
	var res RetryResult
	err := q.db.Tx(ctx, func(tx *store.Tx) error {
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
			r, err := q.retry(ctx, tx, id)
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
		q.log.Info("gateway: queue retry", "mails", ids, "retried_mails", res.Mails, "retried_replies", res.Replies)
		q.mailReady.kick()
		q.outReady.kick()
	}
	return res, err
}

// RetryFailed puts every failed mail and every failed reply back, as
// Retry does.
func (q *Queue) RetryFailed(ctx context.Context) (RetryResult, error) {
	var res RetryResult
	err := q.db.Tx(ctx, func(tx *store.Tx) (err error) {
		res, err = q.retry(ctx, tx, 0)
		return err
	})
	if err == nil {
		q.log.Info("gateway: queue retry of everything failed", "retried_mails", res.Mails, "retried_replies", res.Replies)
		q.mailReady.kick()
		q.outReady.kick()
	}
	return res, err
}

// retry puts the failed mail id (0: every failed mail) and its failed
// replies back. The attempts are reset by moving retry_base up to them:
// attempts, the fencing token of claims, never goes down.
func (q *Queue) retry(ctx context.Context, tx *store.Tx, id int64) (RetryResult, error) {
	now := ns(q.now())
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
func (q *Queue) Purge(ctx context.Context, olderThan time.Duration, dryRun bool) (PurgeResult, error) {
	if olderThan <= 0 {
		return PurgeResult{}, &AdminError{Reason: "purge: the age must be positive"}
	}
	return q.PurgeBefore(ctx, q.now().Add(-olderThan), dryRun)
}

// PurgeBefore is Purge of the mails that finished before the instant
// before, which must be in the past: given a dry run's Before, it deletes
// what the dry run counted (PurgePreview listed), none finished since.
func (q *Queue) PurgeBefore(ctx context.Context, before time.Time, dryRun bool) (PurgeResult, error) {
	if !before.Before(q.now()) {
		return PurgeResult{}, &AdminError{Reason: "purge: the time must be in the past"}
	}
	res := PurgeResult{Before: before.UTC(), DryRun: dryRun}
	args := []any{StateReplied, StateIgnored, StateFailed, ns(res.Before), OutSent, OutFailed, OutBounced}
	steps := []struct {
		table, column string
		n             *int64
	}{
		{"gateway_bounce", "mail_id", &res.Bounces},
		{"gateway_outbox", "mail_id", &res.Replies},
		{"gateway_mail", "id", &res.Mails},
	}
	err := q.db.Tx(ctx, func(tx *store.Tx) error {
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
		q.log.Info("gateway: queue purge", "before", res.Before, "mails", res.Mails, "replies", res.Replies,
			"bounces", res.Bounces)
	}
	return res, err
}

// QueueEntry is one request mail and its replies, for operators and tests.
type QueueEntry struct {
	ID       int64
	Ref      string
	Received time.Time
	From     string
	State    string
	Attempts int
	Reason   string
	Service  string
	Result   string
	Auth     string
	Replies  []OutboxEntry
}

// OutboxEntry is one reply.
type OutboxEntry struct {
	ID        int64
	Kind      string
	To        []string
	MessageID string
	Result    string
	State     string
	Attempts  int
	LastError string
	// BounceStatus and BounceDiagnostic are the Status and
	// Diagnostic-Code of the bounce that failed it (state bounced).
	BounceStatus     string `json:",omitempty"`
	BounceDiagnostic string `json:",omitempty"`
}

// List lists the request mails in state (a mail state, or an outbox state
// one of their replies is in; "" for all), oldest first, with their
// replies. An unknown state is an *AdminError.
func (q *Queue) List(ctx context.Context, state string) ([]QueueEntry, error) {
	if state != "" && !validState(state) {
		return nil, &AdminError{Reason: fmt.Sprintf("no state %q (want one of %s)", state, strings.Join(allStates(), ", "))}
	}
	var out []QueueEntry
	idx := map[int64]int{}
	err := store.EachRow(ctx, q.db, `SELECT id, ref, received_ns, mail_from, state, attempts - retry_base, reason, service, result, auth
		FROM gateway_mail WHERE $1 = '' OR state = $1
			OR id IN (SELECT mail_id FROM gateway_outbox WHERE state = $1) ORDER BY id`, []any{state},
		func(row store.Scanner) error {
			var e QueueEntry
			var received, attempts int64
			if err := row.Scan(&e.ID, &e.Ref, &received, &e.From, &e.State, &attempts, &e.Reason, &e.Service,
				&e.Result, &e.Auth); err != nil {
				return err
			}
			e.Received, e.Attempts = time.Unix(0, received).UTC(), int(attempts)
			idx[e.ID] = len(out)
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, err
	}
	err = store.EachRow(ctx, q.db, `SELECT id, mail_id, kind, rcpt, message_id, result, state, attempts - retry_base, last_error,
		bounce_status, bounce_diag FROM gateway_outbox ORDER BY id`, nil,
		func(row store.Scanner) error {
			var id, attempts int64
			var o OutboxEntry
			var rcpt string
			if err := row.Scan(&o.ID, &id, &o.Kind, &rcpt, &o.MessageID, &o.Result, &o.State, &attempts, &o.LastError,
				&o.BounceStatus, &o.BounceDiagnostic); err != nil {
				return err
			}
			o.To, o.Attempts = strings.Split(rcpt, "\n"), int(attempts)
			if i, ok := idx[id]; ok {
				out[i].Replies = append(out[i].Replies, o)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// countStates counts the rows of table (gateway_mail or gateway_outbox) by
// state.
func (q *Queue) countStates(ctx context.Context, table string) (map[string]int64, error) {
	out := map[string]int64{}
	err := store.EachRow(ctx, q.db, `SELECT state, COUNT(*) FROM `+table+` GROUP BY state`, nil,
		func(row store.Scanner) error {
			var s string
			var n int64
			if err := row.Scan(&s, &n); err != nil {
				return err
			}
			out[s] = n
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}
