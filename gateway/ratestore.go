package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/stskms/stskms/store"
)

// The flood protection's store: the token buckets (gateway_rate) and the
// blocks (gateway_block). The arithmetic of the buckets and the limits are
// in ratelimit.go.

// admitRate takes one token from each of keys' buckets at now for the claimed
// mail c, in one transaction that also marks c admitted, so a crash either
// took the tokens and admitted the mail or did neither. It returns how
// long the request must wait for all of them (0: go ahead); if it must
// wait, c's lease is extended to then, so that a crash before c is put
// back does not get it processed early. If the wait is over MaxDefer it
// returns the key that overflowed instead, having taken nothing. A claim
// lost to another worker is errLostClaim. With no limit on any key it
// takes and writes nothing.
func (q *Queue) admitRate(ctx context.Context, l *limiter, c *claimed, now time.Time, keys []limitKey) (time.Duration, string, error) {
	if !limited(keys) {
		return 0, "", nil // nothing to take: the flood protection is off
	}
	var delay time.Duration
	var over string
	err := q.db.Tx(ctx, func(tx *store.Tx) error {
		delay, over = 0, ""
		if err := sweepBuckets(ctx, tx, l, now); err != nil {
			return err
		}
		after, wait, key, err := takeEach(ctx, tx, keys, now, l.limits.MaxDefer)
		if err != nil || key != "" {
			over = key
			return err
		}
		if err := saveBuckets(ctx, tx, after); err != nil {
			return err
		}
		delay = wait
		return execClaimed(ctx, tx, `UPDATE gateway_mail SET admitted = 1,
			lease_ns = CASE WHEN lease_ns < $3 THEN $3 ELSE lease_ns END
			WHERE id = $1 AND attempts = $2 AND state = $4`, c.id, c.attempts, ns(now.Add(delay)), StateProcessing)
	})
	if err != nil {
		return 0, "", err
	}
	return delay, over, nil
}

// admitNotice reports whether a notice to addr may go out at now under l,
// and takes a token from the notice buckets (per address, and in total) if
// so.
func (q *Queue) admitNotice(ctx context.Context, l *limiter, now time.Time, addr string) (bool, error) {
	keys := []limitKey{{"notice:" + strings.ToLower(addr), l.limits.Notices, 1}, {"notices", l.limits.NoticesTotal, 1}}
	if !limited(keys) {
		return true, nil
	}
	var ok bool
	err := q.db.Tx(ctx, func(tx *store.Tx) error {
		ok = false
		after, _, over, err := takeEach(ctx, tx, keys, now, 0)
		if err != nil || over != "" {
			return err
		}
		ok = true
		return saveBuckets(ctx, tx, after)
	})
	return ok && err == nil, err
}

// takeEach takes, in tx, k.n tokens from the bucket of each key k of keys that
// has a limit, at now: it returns the buckets as they are after and the
// longest wait for a token. If a bucket cannot give one, or only after a
// wait longer than maxWait, it returns that key as over and nothing is to
// be saved.
func takeEach(ctx context.Context, tx *store.Tx, keys []limitKey, now time.Time, maxWait time.Duration) (after []keyedBucket, wait time.Duration, over string, err error) {
	for _, k := range keys {
		if k.limit.Every <= 0 {
			continue
		}
		b, err := loadBucket(ctx, tx, k, ns(now))
		if err != nil {
			return nil, 0, "", err
		}
		b, w, ok := b.take(k.limit, k.n)
		if !ok || w > maxWait {
			return nil, 0, k.key, nil
		}
		after, wait = append(after, keyedBucket{k.key, b}), max(wait, w)
	}
	return after, wait, "", nil
}

// limited reports whether any of keys has a limit.
func limited(keys []limitKey) bool {
	for _, k := range keys {
		if k.limit.Every > 0 {
			return true
		}
	}
	return false
}

// sweepBuckets drops, once in a while, the rows of buckets idle long
// enough under l to be full again: a missing row is a full bucket.
func sweepBuckets(ctx context.Context, tx *store.Tx, l *limiter, now time.Time) error {
	if !l.sweep.due(now) {
		return nil
	}
	_, err := tx.Exec(ctx, `DELETE FROM gateway_rate WHERE updated_ns < $1`, ns(now.Add(-l.idle)))
	return err
}

// loadBucket returns k's bucket, refilled to now.
func loadBucket(ctx context.Context, tx *store.Tx, k limitKey, now int64) (bucket, error) {
	var b bucket
	err := tx.QueryRow(ctx, `SELECT tokens, updated_ns FROM gateway_rate WHERE bucket_key = $1`, k.key).
		Scan(&b.tokens, &b.at)
	if errors.Is(err, store.ErrNotFound) {
		return fullBucket(now, k.limit), nil
	}
	if err != nil {
		return bucket{}, err
	}
	return b.fill(now, k.limit), nil
}

// keyedBucket is a bucket to save.
type keyedBucket struct {
	key string
	b   bucket
}

// saveBuckets writes buckets, in the order of the keys of a request (the
// same order in every process).
func saveBuckets(ctx context.Context, tx *store.Tx, buckets []keyedBucket) error {
	for _, kb := range buckets {
		if _, err := tx.Exec(ctx, `INSERT INTO gateway_rate (bucket_key, tokens, updated_ns) VALUES ($1, $2, $3)
			ON CONFLICT (bucket_key) DO UPDATE SET tokens = excluded.tokens, updated_ns = excluded.updated_ns`,
			kb.key, kb.b.tokens, kb.b.at); err != nil {
			return err
		}
	}
	return nil
}

// activeBlock returns the end of the block on any of keys, and that key,
// or the zero time.
func (q *Queue) activeBlock(ctx context.Context, keys []string) (time.Time, string, error) {
	now := ns(q.now())
	for _, k := range keys {
		var until int64
		err := q.db.QueryRow(ctx, `SELECT until_ns FROM gateway_block WHERE block_key = $1 AND until_ns > $2`,
			k, now).Scan(&until)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return time.Time{}, "", err
		}
		return time.Unix(0, until), k, nil
	}
	return time.Time{}, "", nil
}

// blockRecord is a block to record.
type blockRecord struct {
	key    string
	until  time.Time
	reason string
}

// saveBlock records b at now, in the transaction that finishes the mail
// that went over the limit.
func saveBlock(ctx context.Context, tx *store.Tx, b *blockRecord, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO gateway_block (block_key, until_ns, created_ns, reason)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (block_key) DO UPDATE SET until_ns = excluded.until_ns,
			created_ns = excluded.created_ns, reason = excluded.reason`,
		b.key, ns(b.until), ns(now), b.reason)
	return err
}

// Block is an active block of the flood protection.
type Block struct {
	// Key is what is blocked: "addr:<address>", "domain:<domain>" or
	// "module:<vendor>:<id>".
	Key     string
	Until   time.Time
	Created time.Time
	Reason  string
}

// Blocks lists the blocks in force.
func (q *Queue) Blocks(ctx context.Context) ([]Block, error) {
	return store.All(ctx, q.db, `SELECT block_key, until_ns, created_ns, reason FROM gateway_block
		WHERE until_ns > $1 ORDER BY block_key`, []any{ns(q.now())},
		func(row store.Scanner) (Block, error) {
			var b Block
			var until, created int64
			err := row.Scan(&b.Key, &until, &created, &b.Reason)
			b.Until, b.Created = time.Unix(0, until).UTC(), time.Unix(0, created).UTC()
			return b, err
		})
}

// countBlocks counts the blocks in force (for the metrics).
func (q *Queue) countBlocks(ctx context.Context) (int64, error) {
	var n int64
	err := q.db.QueryRow(ctx, `SELECT COUNT(*) FROM gateway_block WHERE until_ns > $1`, ns(q.now())).Scan(&n)
	return n, err
}

// Unblock lifts the block on key; it reports whether there was one. The
// stored rate bucket of the key is reset too (made full).
func (q *Queue) Unblock(ctx context.Context, key string) (bool, error) {
	res, err := q.db.Exec(ctx, `DELETE FROM gateway_block WHERE block_key = $1`, key)
	if err != nil {
		return false, err
	}
	if _, err := q.db.Exec(ctx, `DELETE FROM gateway_rate WHERE bucket_key = $1`, key); err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
