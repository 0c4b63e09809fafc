package gateway

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/store"
)

// BounceMail is the Reason recorded with a mail to the bounce address: it
// is read as a bounce, recorded, and never answered.
const BounceMail Reason = "bounce"

// newBounceTag returns the random tag of a reply's bounce address.
func newBounceTag() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// envelopeFrom is the MAIL FROM of a reply: <> without a bounce address,
// else bounce+<id>.<tag>@domain (VERP), which names exactly this reply.
func (g *Gateway) envelopeFrom(o *outbound) string {
	if g.cfg.EnvelopeSender == "" || o.tag == "" {
		return g.cfg.EnvelopeSender
	}
	local, domain := splitAddress(g.cfg.EnvelopeSender)
	return fmt.Sprintf("%s+%d.%s@%s", local, o.id, o.tag, domain)
}

// bounceRcpt reports whether rcpt is the bounce address or a VERP form
// of it, and returns the VERP suffix ("" for the bare address).
func (g *Gateway) bounceRcpt(rcpt string) (string, bool) {
	if g.cfg.EnvelopeSender == "" {
		return "", false
	}
	if sameAddress(rcpt, g.cfg.EnvelopeSender) {
		return "", true
	}
	local, domain := splitAddress(g.cfg.EnvelopeSender)
	l, d := splitAddress(rcpt)
	prefix := local + "+"
	if d != domain || len(l) <= len(prefix) || !strings.EqualFold(l[:len(prefix)], prefix) {
		return "", false
	}
	return l[len(prefix):], true
}

// isBounce reports whether a mail went to the bounce address (then it is
// a bounce, whatever else it is, and never answered).
func (g *Gateway) isBounce(env Envelope) bool {
	for _, r := range env.To {
		if _, ok := g.bounceRcpt(r); ok {
			return true
		}
	}
	return false
}

// parseBounceID splits "<outbox id>.<tag>"; ok is false if it is not that.
func parseBounceID(s string) (id int64, tag string, ok bool) {
	a, tag, found := strings.Cut(s, ".")
	id, err := strconv.ParseInt(a, 10, 64)
	if !found || err != nil || id <= 0 || len(tag) != 16 {
		return 0, "", false
	}
	return id, strings.ToLower(tag), true
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

// processBounce reads a mail to the bounce address, matches it to the
// reply its VERP address or ENVID names, and records it; it is never
// answered.
func (g *Gateway) processBounce(ctx context.Context, c *claimed) error {
	log := g.log.With("ref", c.ref)
	suffix := ""
	for _, r := range c.env.To {
		if s, ok := g.bounceRcpt(r); ok && s != "" {
			suffix = s
			break
		}
	}
	u := mailUpdate{state: StateIgnored, reason: BounceMail}
	bu := &bounceUpdate{}
	u.bounce = bu
	b, err := ParseBounce(c.raw)
	if err != nil {
		bu.note, u.result = err.Error(), "unreadable"
	} else {
		bu.report, u.result = b, b.String()
		if suffix == "" {
			suffix = b.EnvelopeID
		}
		var ok bool
		if bu.id, bu.tag, ok = parseBounceID(suffix); !ok {
			bu.note = "names no reply"
		}
	}
	if err := g.finish(ctx, c, u); err != nil {
		return err
	}
	if bu.matched {
		log.Info("gateway: bounce recorded", "reply", bu.id, "bounced", bu.bounced, "report", u.result)
	} else {
		log.Warn("gateway: bounce matches no reply; recorded and ignored", "note", bu.why, "report", u.result)
	}
	return nil
}

// recordBounce, in the transaction that finishes the bounce mail, checks
// that the reply it names exists with that tag (and, if the bounce returns
// a Message-ID, that one), marks the reply bounced if its delivery failed
// for good, and records each per-recipient report.
func (g *Gateway) recordBounce(ctx context.Context, tx *store.Tx, mailID int64, now time.Time, bu *bounceUpdate) error {
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
func (g *Gateway) Bounces(ctx context.Context) ([]BounceRecord, error) {
	rows, err := g.db.Query(ctx, `SELECT mail_id, outbox_id, recipient, action, status, diagnostic, note, created_ns
		FROM gateway_bounce ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BounceRecord
	for rows.Next() {
		var b BounceRecord
		var created int64
		if err := rows.Scan(&b.Mail, &b.Reply, &b.Recipient, &b.Action, &b.Status, &b.Diagnostic, &b.Note,
			&created); err != nil {
			return nil, err
		}
		b.Received = time.Unix(0, created).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}
