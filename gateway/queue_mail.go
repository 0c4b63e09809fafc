package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/store"
)

// accept stores a received message, state received, due now — or, if it
// is a redelivery of a mail accepted within Config.DedupeWindow (dedupe.go),
// state ignored, reason duplicate, never answered: then first is the
// reference of the mail that brought it first. It returns once the
// transaction is committed (durable). It wakes no worker: the caller does,
// when it has done its part.
func (q *Queue) accept(ctx context.Context, env Envelope, raw []byte, size int64, truncated bool) (ref, first string, err error) {
	ref = newRef()
	now := ns(env.Received)
	key := deliveryKey(env.From, raw)
	var fresh bool
	err = q.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if first, fresh, err = q.firstDelivery(ctx, tx, key, ref, env.Received); err != nil {
			return err
		}
		state, reason, done := StateReceived, "", int64(0)
		if !fresh {
			state, reason, done = StateIgnored, string(Duplicate), now
		}
		_, err = tx.Exec(ctx, `INSERT INTO gateway_mail (ref, received_ns, mail_from, rcpt, remote_addr, helo,
			size, truncated, raw, state, attempts, next_ns, lease_ns, admitted, reason, service, result, auth, done_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $2, 0, 0, $11, '', '', '', $12)`,
			ref, now, env.From, strings.Join(env.To, "\n"), env.RemoteAddr, env.Helo, size, b2i(truncated), raw, state,
			reason, done)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("gateway: failed to store message: %w", err)
	}
	if fresh {
		first = ""
	}
	return ref, first, nil
}

// claim takes the next due request mail (received and due, or processing
// with an expired lease), or returns nil.
func (q *Queue) claim(ctx context.Context) (*claimed, error) {
	return claimDue(ctx, q, "gateway_mail", StateReceived, StateProcessing, func(tx *store.Tx, id int64) (*claimed, int64, error) {
		cl := &claimed{id: id}
		var from, rcpt string
		var received, trunc, admitted, notices, base int64
		err := tx.QueryRow(ctx, `SELECT m.ref, m.attempts, m.retry_base, m.admitted, m.mail_from, m.rcpt, m.remote_addr, m.helo,
			m.received_ns, m.raw, m.size, m.truncated,
			(SELECT COUNT(*) FROM gateway_outbox o WHERE o.mail_id = m.id AND o.kind = $2)
			FROM gateway_mail m WHERE m.id = $1`, id, kindDeferred).Scan(
			&cl.ref, &cl.attempts, &base, &admitted, &from, &rcpt, &cl.env.RemoteAddr, &cl.env.Helo,
			&received, &cl.raw, &cl.size, &trunc, &notices)
		if err != nil {
			return nil, 0, err
		}
		cl.attempts++
		cl.tries = cl.attempts - base
		cl.admitted, cl.trunc, cl.deferred = admitted != 0, trunc != 0, notices > 0
		cl.env.From = from
		if rcpt != "" {
			cl.env.To = strings.Split(rcpt, "\n")
		}
		cl.env.Received = time.Unix(0, received)
		return cl, cl.attempts, nil
	})
}

// outMsg is a reply to queue.
type outMsg struct {
	kind      string
	from      string // the envelope sender ("": <>)
	to        []string
	messageID string
	result    gwresult.Result
	data      []byte
}

// mailUpdate is how a worker leaves a claimed mail.
type mailUpdate struct {
	state    string // StateReceived (deferred), StateReplied, StateIgnored, StateFailed
	next     time.Time
	admitted bool
	reason   Reason
	service  string
	result   string
	auth     string
	block    *blockRecord
	out      []outMsg
	// limited is "deferred" or "blocked" when the flood protection
	// decided (for the metrics; the queue does not store it).
	limited string
	// bounce, for a mail to the bounce address, is the bounce to record.
	bounce *bounceUpdate
}

// finish applies u to the claimed mail and queues its replies, in one
// transaction, if the claim still holds; else errLostClaim. Like accept,
// it wakes no sender: the caller does (outReady).
func (q *Queue) finish(ctx context.Context, c *claimed, u *mailUpdate) error {
	now := q.now()
	return q.db.Tx(ctx, func(tx *store.Tx) error {
		if u.bounce != nil {
			if err := q.recordBounce(ctx, tx, c.id, now, u.bounce); err != nil {
				return err
			}
		}
		var done int64
		if u.state != StateReceived {
			done = ns(now)
		}
		next := ns(u.next)
		if u.next.IsZero() {
			next = ns(now)
		}
		if err := execClaimed(ctx, tx, `UPDATE gateway_mail SET state = $3, next_ns = $4, lease_ns = 0, admitted = $5,
			reason = $6, service = $7, result = $8, auth = $9, done_ns = $10
			WHERE id = $1 AND attempts = $2 AND state = $11`,
			c.id, c.attempts, u.state, next, b2i(u.admitted), string(u.reason), u.service, u.result, u.auth, done,
			StateProcessing); err != nil {
			return err
		}
		if b := u.block; b != nil {
			if err := saveBlock(ctx, tx, b, now); err != nil {
				return err
			}
		}
		for _, o := range u.out {
			if _, err := tx.Exec(ctx, `INSERT INTO gateway_outbox (mail_id, kind, env_from, rcpt, message_id, result,
				data, state, attempts, next_ns, lease_ns, last_error, created_ns, sent_ns, bounce_tag)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 0, '', $9, 0, $10)
				ON CONFLICT (mail_id, kind) DO NOTHING`,
				c.id, o.kind, o.from, strings.Join(o.to, "\n"), o.messageID, o.result.Header(),
				o.data, OutPending, ns(now), newBounceTag()); err != nil {
				return err
			}
		}
		return nil
	})
}
