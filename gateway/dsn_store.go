package gateway

// The store of bounces: the bounce tags of replies, and the reports
// received, matched to the replies they name (bounce.go reads them).

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"time"

	"github.com/stskms/stskms/store"
)

// newBounceTag returns the random tag of a reply's bounce address.
func newBounceTag() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// bounceUpdate is a bounce to record with the mail that brought it.
type bounceUpdate struct {
	id      int64  // the reply it names (0: none)
	tag     string // the tag it gives
	report  *Bounce
	note    string // why it matched nothing, if known before the lookup
	why     string // set by recordBounce: why it matched nothing
	matched bool   // set by recordBounce: it names a reply
	bounced bool   // set by recordBounce: that reply is now bounced
}

// recordBounce, in the transaction that finishes the bounce mail, checks
// that the reply it names exists with that tag (and, if the bounce returns
// a Message-ID, that one), marks the reply bounced if its delivery failed
// for good, and records each per-recipient report.
func (q *Queue) recordBounce(ctx context.Context, tx *store.Tx, mailID int64, now time.Time, bu *bounceUpdate) error {
	bu.matched, bu.bounced = false, false
	note := bu.note
	defer func() { bu.why = note }()
	if note == "" {
		var tag, msgID string
		err := tx.QueryRow(ctx, `SELECT bounce_tag, message_id FROM gateway_outbox WHERE id = $1`, bu.id).Scan(&tag, &msgID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			note = "no such reply"
		case err != nil:
			return err
		case tag == "" || subtle.ConstantTimeCompare([]byte(tag), []byte(bu.tag)) != 1:
			note = "wrong tag"
		case bu.report.MessageID != "" && bu.report.MessageID != msgID:
			note = "returned Message-ID is not the reply's"
		default:
			bu.matched = true
		}
	}
	outbox := int64(0)
	if bu.matched {
		outbox = bu.id
		if f := bu.report.Failed(); f != nil {
			res, err := tx.Exec(ctx, `UPDATE gateway_outbox SET state = $2, bounce_status = $3, bounce_diag = $4
				WHERE id = $1 AND state IN ($5, $6)`, bu.id, OutBounced, f.Status, f.Diagnostic, OutSent, OutSending)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			bu.bounced = n == 1
		}
	}
	reports := []BounceRecipient{{}}
	if bu.report != nil {
		reports = bu.report.Recipients
	}
	for _, r := range reports {
		if _, err := tx.Exec(ctx, `INSERT INTO gateway_bounce (mail_id, outbox_id, recipient, action, status, diagnostic,
			note, created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			mailID, outbox, r.Recipient, r.Action, r.Status, r.Diagnostic, field(note), ns(now)); err != nil {
			return err
		}
	}
	return nil
}

// BounceRecord is one per-recipient report of a bounce the gateway
// received.
type BounceRecord struct {
	// Mail is the queue id of the bounce mail; Reply the outbox id of the
	// reply it matched (0: none).
	Mail, Reply int64
	BounceRecipient
	// Note says why it matched no reply.
	Note     string `json:",omitempty"`
	Received time.Time
}

// Bounces lists the bounces received, oldest first.
func (q *Queue) Bounces(ctx context.Context) ([]BounceRecord, error) {
	return store.All(ctx, q.db, `SELECT mail_id, outbox_id, recipient, action, status, diagnostic, note, created_ns
		FROM gateway_bounce ORDER BY id`, nil,
		func(row store.Scanner) (BounceRecord, error) {
			var b BounceRecord
			var created int64
			err := row.Scan(&b.Mail, &b.Reply, &b.Recipient, &b.Action, &b.Status, &b.Diagnostic, &b.Note, &created)
			b.Received = time.Unix(0, created).UTC()
			return b, err
		})
}
