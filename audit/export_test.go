package audit

import (
	"context"
	"time"

	"github.com/stskms/stskms/store"
)

// SetClock makes l read the time from now.
func SetClock(l *Log, now func() time.Time) { l.now = now }

// MigrationsV1 is the schema as of step 1: the hash chain without a tree.
var MigrationsV1 = migrations[:1]

// AppendV1 appends es to a log of schema step 1 as the code of that step
// did: the head moved, the records inserted, no tree.
func AppendV1(ctx context.Context, db *store.DB, now time.Time, es []Entry) error {
	return db.Tx(ctx, func(tx *store.Tx) error {
		ps := make([]prepared, len(es))
		for i, e := range es {
			var err error
			if ps[i], err = e.prepare(); err != nil {
				return err
			}
		}
		var seq int64
		var prev []byte
		if err := tx.QueryRow(ctx, `UPDATE audit_head SET seq = seq + $1 WHERE one = 1 RETURNING seq, hash`,
			int64(len(ps))).Scan(&seq, &prev); err != nil {
			return err
		}
		ns := now.UnixNano()
		rs := chain(ps, ns, seq-int64(len(ps))+1, [32]byte(prev))
		if _, err := tx.Exec(ctx, `UPDATE audit_head SET hash = $1 WHERE one = 1`, rs[len(rs)-1].Hash[:]); err != nil {
			return err
		}
		for i, r := range rs {
			p := ps[i]
			if _, err := tx.Exec(ctx, `INSERT INTO audit_log (seq, at_ns, actor, action, subject, details, prev, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.Seq, ns, p.actor, p.action, p.subject, string(p.details),
				r.Prev[:], r.Hash[:]); err != nil {
				return err
			}
		}
		return nil
	})
}
