package gateway

import (
	"context"
	"time"

	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/store"
)

// Answer is a request's final reply as the queue holds it: when it was
// made, its result code (Success, or the error code) and, once handed to
// the relay, how long after the request's acceptance (Latency; 0 before).
type Answer struct {
	Time    time.Time
	Result  string
	Latency time.Duration
}

// Answers calls fn with the final reply of each request answered since
// from, oldest first: what the console's charts show of the gateway. A
// reply whose result header does not parse counts as "unreadable".
func (q *Queue) Answers(ctx context.Context, from time.Time, fn func(Answer) error) error {
	return store.EachRow(ctx, q.db, `SELECT o.created_ns, o.result, o.state, o.sent_ns, m.received_ns
		FROM gateway_outbox o JOIN gateway_mail m ON m.id = o.mail_id
		WHERE o.kind = $1 AND o.created_ns >= $2 ORDER BY o.created_ns, o.id`, []any{kindFinal, ns(from)},
		func(row store.Scanner) error {
			var created, sent, received int64
			var header, state string
			if err := row.Scan(&created, &header, &state, &sent, &received); err != nil {
				return err
			}
			a := Answer{Time: time.Unix(0, created).UTC(), Result: "unreadable"}
			if r, err := gwresult.Parse(header); err == nil {
				a.Result = resultCode(r)
			}
			if state == OutSent {
				a.Latency = time.Duration(sent - received)
			}
			return fn(a)
		})
}
