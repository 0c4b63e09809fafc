package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/stskms/stskms/store"
)

// outbound is a reply claimed for sending.
type outbound struct {
	id       int64
	attempts int64
	tries    int64 // attempts since the last operator retry
	from     string
	to       []string
	data     []byte
	created  time.Time
	kind     string
	tag      string    // its bounce tag
	ref      string    // the request's reference
	received time.Time // when the request was accepted
}

// claimOut takes the next reply due for sending, or returns nil.
func (q *Queue) claimOut(ctx context.Context) (*outbound, error) {
	return claimDue(ctx, q, "gateway_outbox", OutPending, OutSending, func(tx *store.Tx, id int64) (*outbound, int64, error) {
		ob := &outbound{id: id}
		var rcpt string
		var created, received, base int64
		if err := tx.QueryRow(ctx, `SELECT o.attempts, o.retry_base, o.env_from, o.rcpt, o.data, o.created_ns, o.kind, o.bounce_tag,
			m.ref, m.received_ns FROM gateway_outbox o JOIN gateway_mail m ON m.id = o.mail_id WHERE o.id = $1`,
			id).Scan(&ob.attempts, &base, &ob.from, &rcpt, &ob.data, &created, &ob.kind, &ob.tag, &ob.ref, &received); err != nil {
			return nil, 0, err
		}
		ob.attempts++
		ob.tries = ob.attempts - base
		ob.to = strings.Split(rcpt, "\n")
		ob.created, ob.received = time.Unix(0, created), time.Unix(0, received)
		return ob, ob.attempts, nil
	})
}

// finishOut records the outcome of a send: sent, failed for good, or
// pending again at next.
func (q *Queue) finishOut(ctx context.Context, o *outbound, state string, next time.Time, lastErr string) error {
	now := q.now()
	return q.db.Tx(ctx, func(tx *store.Tx) error {
		var sent int64
		if state == OutSent {
			sent = ns(now)
		}
		if len(lastErr) > 500 {
			lastErr = lastErr[:500]
		}
		return execClaimed(ctx, tx, `UPDATE gateway_outbox SET state = $3, next_ns = $4, lease_ns = 0, last_error = $5,
			sent_ns = $6 WHERE id = $1 AND attempts = $2 AND state = $7`,
			o.id, o.attempts, state, ns(next), lastErr, sent, OutSending)
	})
}
