package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/textproto"
	"strings"
	"time"

	"github.com/stskms/stskms/store"
)

// Duplicate: the mail is a redelivery of one accepted before (same
// envelope sender and Message-ID within Config.DedupeWindow). It is
// stored, state ignored, and not answered.
const Duplicate Reason = "duplicate"

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
func (q *Queue) firstDelivery(ctx context.Context, tx *store.Tx, key, ref string, now time.Time) (string, bool, error) {
	window := q.cfg.DedupeWindow
	if key == "" || window < 0 {
		return "", true, nil
	}
	if q.dedupe.due(now) {
		if _, err := tx.Exec(ctx, `DELETE FROM gateway_delivery WHERE received_ns <= $1`, ns(now.Add(-window))); err != nil {
			return "", false, err
		}
	}
	res, err := tx.Exec(ctx, `INSERT INTO gateway_delivery (delivery_key, ref, received_ns) VALUES ($1, $2, $3)
		ON CONFLICT (delivery_key) DO UPDATE SET ref = excluded.ref, received_ns = excluded.received_ns
		WHERE gateway_delivery.received_ns <= $4`, key, ref, ns(now), ns(now.Add(-window)))
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
