package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/stskms/stskms/store"
)

// DefaultDedupeWindow is Config.DedupeWindow's default: a mail's
// redelivery is recognised for 7 days, longer than any MTA retries
// (Postfix gives up after 5 days by default, RFC 5321 §4.5.4.1 suggests
// 4–5).
const DefaultDedupeWindow = 7 * 24 * time.Hour

// Duplicate: the mail is a redelivery of one accepted before (same
// envelope sender and Message-ID within Config.DedupeWindow). It is
// stored, state ignored, and not answered.
const Duplicate Reason = "duplicate"

// migrationDedupe records each accepted mail's delivery key — a hash of
// its envelope sender and Message-ID — and the mail that brought it first.
// The primary key makes "first or duplicate" one atomic decision in the
// transaction that stores the mail, in both databases, however many
// processes accept mail. Rows older than the window are deleted as mail
// arrives; the mail table's retention does not touch them.
var migrationDedupe = store.Migration{
	Version: 5,
	Name:    "redelivered mail recognised by envelope sender and Message-ID",
	SQL: `CREATE TABLE gateway_delivery (
		delivery_key TEXT   PRIMARY KEY,
		ref          TEXT   NOT NULL,
		received_ns  BIGINT NOT NULL
	);
	CREATE INDEX gateway_delivery_age ON gateway_delivery (received_ns)`,
}

// deliveryKey is the key of a mail's delivery: the SHA-256 of its
// envelope sender (lower case) and its Message-ID, or "" if it has no
// Message-ID (it cannot be told from another, so it is never a
// duplicate).
func deliveryKey(from string, raw []byte) string {
	id := messageID(raw)
	if id == "" {
		return ""
	}
	h := sha256.Sum256([]byte(strings.ToLower(from) + "\x00" + id))
	return hex.EncodeToString(h[:])
}

// messageID returns the Message-ID field of raw's header, trimmed, or "".
func messageID(raw []byte) string {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		raw = raw[:i+4]
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return ""
	}
	return strings.TrimSpace(h.Get("Message-Id"))
}

// firstDelivery records key as delivered by the mail ref at now, in tx,
// unless a mail within the window brought it already: then it returns
// that mail's reference and false.
func (g *Gateway) firstDelivery(ctx context.Context, tx *store.Tx, key, ref string, now time.Time) (string, bool, error) {
	if key == "" || g.cfg.DedupeWindow < 0 {
		return "", true, nil
	}
	if err := g.dedupe.sweep(ctx, tx, now, g.cfg.DedupeWindow); err != nil {
		return "", false, err
	}
	res, err := tx.Exec(ctx, `INSERT INTO gateway_delivery (delivery_key, ref, received_ns) VALUES ($1, $2, $3)
		ON CONFLICT (delivery_key) DO UPDATE SET ref = excluded.ref, received_ns = excluded.received_ns
		WHERE gateway_delivery.received_ns <= $4`, key, ref, ns(now), ns(now.Add(-g.cfg.DedupeWindow)))
	if err != nil {
		return "", false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return "", err == nil, err
	}
	var first string
	err = tx.QueryRow(ctx, `SELECT ref FROM gateway_delivery WHERE delivery_key = $1`, key).Scan(&first)
	return first, false, err
}

// dedupeSweeper deletes, at most once a minute per process, the delivery
// keys older than the window.
type dedupeSweeper struct {
	mu sync.Mutex
	at time.Time
}

func (d *dedupeSweeper) sweep(ctx context.Context, tx *store.Tx, now time.Time, window time.Duration) error {
	d.mu.Lock()
	due := !now.Before(d.at)
	if due {
		d.at = now.Add(sweepEvery)
	}
	d.mu.Unlock()
	if !due {
		return nil
	}
	_, err := tx.Exec(ctx, `DELETE FROM gateway_delivery WHERE received_ns <= $1`, ns(now.Add(-window)))
	return err
}
