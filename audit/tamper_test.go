package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
)

// sqlEdit returns a TestTamper edit that runs the one statement q with
// args by rawSQL.
func sqlEdit(q string, args ...any) func(*testing.T, *store.DB, *audit.Log, []audit.Record) {
	return func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
		rawSQL(t, db, q, args...)
	}
}

// rewrite replaces record r in the database, hash and all.
func rewrite(t *testing.T, db *store.DB, r audit.Record) {
	t.Helper()
	rawSQL(t, db, `UPDATE audit_log SET at_ns = $2, actor = $3, action = $4, subject = $5, details = $6,
		prev = $7, hash = $8 WHERE seq = $1`, columns(r)...)
}

// columns returns r's values in the order of audit_log's columns: seq,
// at_ns, actor, action, subject, details, prev, hash.
func columns(r audit.Record) []any {
	return []any{r.Seq, r.Time.UnixNano(), r.Actor, r.Action, r.Subject,
		string(r.Details.(json.RawMessage)), r.Prev[:], r.Hash[:]}
}

// forge returns r with a new actor and a recomputed hash.
func forge(r audit.Record) audit.Record {
	r.Actor = "mallory"
	r.Hash = docHash(r)
	return r
}

// TestTamper edits the tables with raw SQL and checks that Verify reports
// the exact kind of break at the exact record.
func TestTamper(t *testing.T) {
	const n = 8
	junk := make([]byte, 32)
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, db *store.DB, l *audit.Log, rs []audit.Record)
		kind error // nil: Verify passes
		seq  int64
	}{
		{"edit actor", sqlEdit(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 5`), audit.ErrEdited, 5},
		{"edit action", sqlEdit(`UPDATE audit_log SET action = 'token.verify' WHERE seq = 1`), audit.ErrEdited, 1},
		{"edit subject", sqlEdit(`UPDATE audit_log SET subject = '' WHERE seq = 8`), audit.ErrEdited, 8},
		{"edit details", sqlEdit(`UPDATE audit_log SET details = '{"amount":1,"class":"credit","tid":1003}' WHERE seq = 3`), audit.ErrEdited, 3},
		{"edit time", sqlEdit(`UPDATE audit_log SET at_ns = at_ns + 1 WHERE seq = 2`), audit.ErrEdited, 2},
		{"edit hash", sqlEdit(`UPDATE audit_log SET hash = $1 WHERE seq = 4`, junk), audit.ErrEdited, 4},
		{"short hash", sqlEdit(`UPDATE audit_log SET hash = $1 WHERE seq = 4`, junk[:31]), audit.ErrEdited, 4},
		{"edit prev", sqlEdit(`UPDATE audit_log SET prev = $1 WHERE seq = 6`, junk), audit.ErrReordered, 6},
		{"delete middle", sqlEdit(`DELETE FROM audit_log WHERE seq = 5`), audit.ErrRemoved, 5},
		{"delete first", sqlEdit(`DELETE FROM audit_log WHERE seq = 1`), audit.ErrRemoved, 1},
		{"delete last, keep head", sqlEdit(`DELETE FROM audit_log WHERE seq = 8`), audit.ErrRemoved, 8},
		{"delete all, keep head", sqlEdit(`DELETE FROM audit_log`), audit.ErrRemoved, 1},
		{"swap seqs", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			rawSQL(t, db, `UPDATE audit_log SET seq = -3 WHERE seq = 3`)
			rawSQL(t, db, `UPDATE audit_log SET seq = 3 WHERE seq = 4`)
			rawSQL(t, db, `UPDATE audit_log SET seq = 4 WHERE seq = -3`)
		}, audit.ErrReordered, 3},
		{"move to the end", sqlEdit(`UPDATE audit_log SET seq = 9 WHERE seq = 2`), audit.ErrRemoved, 2},
		{"edit with recomputed hash", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rewrite(t, db, forge(rs[4]))
		}, audit.ErrReordered, 6},
		{"edit last with recomputed hash", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rewrite(t, db, forge(rs[7]))
		}, audit.ErrTruncated, 8},
		{"edit head hash", sqlEdit(`UPDATE audit_head SET hash = $1`, junk), audit.ErrTruncated, 8},
		{"head rewound", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rawSQL(t, db, `UPDATE audit_head SET seq = 6, hash = $1`, rs[5].Hash[:])
		}, audit.ErrTruncated, 7},
		{"head rewound to empty", func(t *testing.T, db *store.DB, l *audit.Log, _ []audit.Record) {
			g := docGenesis(l.ID())
			rawSQL(t, db, `UPDATE audit_head SET seq = 0, hash = $1`, g[:])
		}, audit.ErrTruncated, 1},
		{"head deleted", sqlEdit(`DELETE FROM audit_head`), audit.ErrTruncated, 0},
		{"forged past the head", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			r := rs[7]
			r.Seq, r.Prev = 9, r.Hash
			r.Hash = docHash(r)
			rawSQL(t, db, `INSERT INTO audit_log (seq, at_ns, actor, action, subject, details, prev, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, columns(r)...)
		}, audit.ErrTruncated, 9},
		{"record 0 inserted", sqlEdit(`INSERT INTO audit_log (seq, at_ns, actor, action, subject, details, prev, hash)
				SELECT 0, at_ns, actor, action, subject, details, prev, hash FROM audit_log WHERE seq = 1`), audit.ErrReordered, 0},
		{"other log id", sqlEdit(`UPDATE audit_head SET log_id = $1`, junk[:16]), audit.ErrReordered, 1},
		// The limit of any chain kept in the database alone: the tail
		// removed with the head rewound verifies; only a report kept
		// elsewhere (checked in the test) tells.
		{"tail and head removed", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rawSQL(t, db, `DELETE FROM audit_log WHERE seq > 6`)
			rawSQL(t, db, `UPDATE audit_head SET seq = 6, hash = $1`, rs[5].Hash[:])
		}, nil, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
				rs := appendN(t, l, n)
				before := verifyOK(t, l, n)
				tc.edit(t, db, l, rs)
				rep, err := l.Verify(ctx)
				if tc.kind == nil {
					if err != nil || rep.Records != tc.seq {
						t.Fatalf("Verify: %d records, %v; want %d, nil", rep.Records, err, tc.seq)
					}
					if rep.Records == before.Records && rep.Head == before.Head {
						t.Error("the report kept outside does not tell")
					}
					return
				}
				var ce *audit.ChainError
				if !errors.As(err, &ce) || !errors.Is(err, tc.kind) || ce.Seq != tc.seq {
					t.Fatalf("Verify: %v; want %v at record %d", err, tc.kind, tc.seq)
				}
				t.Logf("%v", err)
				if want := max(min(tc.seq-1, n), 0); rep.Records != want {
					t.Errorf("report of a broken chain: %d records verified, want %d", rep.Records, want)
				}
			})
		})
	}
}
