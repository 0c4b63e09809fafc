package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/stskms/stskms/store"
)

// migrationRate stores the token buckets of the flood protection, one row
// per key ("addr:…", "domain:…", "module:…", "notice:…", "notices"): its
// token count in units of 1/1e9 token (below zero when requests were
// deferred against it) as of updated_ns. A missing row is a full bucket.
// Each process refills a bucket arithmetically from updated_ns in the
// transaction that takes from it, so all processes on one database share
// it.
var migrationRate = store.Migration{
	Version: 2,
	Name:    "shared rate-limit buckets",
	SQL: `CREATE TABLE gateway_rate (
		bucket_key TEXT   PRIMARY KEY,
		tokens     BIGINT NOT NULL,
		updated_ns BIGINT NOT NULL
	)`,
}

// admit takes one token from each of keys' buckets at now for the claimed
// mail c, in one transaction that also marks c admitted, so a crash either
// took the tokens and admitted the mail or did neither. It returns how
// long the request must wait for all of them (0: go ahead); if it must
// wait, c's lease is extended to then, so that a crash before c is put
// back does not get it processed early. If the wait is over MaxDefer it
// returns the key that overflowed instead, having taken nothing. A claim
// lost to another worker is errLostClaim. With no limit on any key it
// takes and writes nothing.
func (l *limiter) admit(ctx context.Context, db *store.DB, c *claimed, now time.Time, keys []limitKey) (time.Duration, string, error) {
	if !limited(keys) {
		return 0, "", nil // nothing to take: the flood protection is off
	}
	var delay time.Duration
	var over string
	err := db.Tx(ctx, func(tx *store.Tx) error {
		delay, over = 0, ""
		if err := l.sweep(ctx, tx, now); err != nil {
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

// notice reports whether a notice to addr may go out at now, and takes a
// token from the notice buckets (per address, and in total) if so.
func (l *limiter) notice(ctx context.Context, db *store.DB, now time.Time, addr string) (bool, error) {
	keys := []limitKey{{"notice:" + strings.ToLower(addr), l.limits.Notices, 1}, {"notices", l.limits.NoticesTotal, 1}}
	if !limited(keys) {
		return true, nil
	}
	var ok bool
	err := db.Tx(ctx, func(tx *store.Tx) error {
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

// reset forgets the bucket of key, making it full (an operator lifted its
// block).
func (l *limiter) reset(ctx context.Context, db *store.DB, key string) error {
	_, err := db.Exec(ctx, `DELETE FROM gateway_rate WHERE bucket_key = $1`, key)
	return err
}

// sweep drops, once in a while, the rows of buckets idle long enough to be
// full again: a missing row is a full bucket.
func (l *limiter) sweep(ctx context.Context, tx *store.Tx, now time.Time) error {
	if !l.sweepDue(now) {
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
