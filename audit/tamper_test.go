package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// sqlExec runs raw SQL on the log's tables as someone with database access
// would, after dropping the append-only triggers as they could.
func sqlExec(t *testing.T, db *store.DB, q string, args ...any) {
	t.Helper()
	ctx := context.Background()
	var off []string
	switch db.Dialect() {
	case store.SQLite:
		off = []string{`DROP TRIGGER IF EXISTS audit_log_no_update`, `DROP TRIGGER IF EXISTS audit_log_no_delete`}
	case store.PostgreSQL:
		off = []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`}
	}
	for _, s := range off {
		if _, err := db.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := db.Exec(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// rewrite replaces record r in the database, hash and all.
func rewrite(t *testing.T, db *store.DB, r audit.Record) {
	t.Helper()
	sqlExec(t, db, `UPDATE audit_log SET at_ns = $2, actor = $3, action = $4, subject = $5, details = $6,
		prev = $7, hash = $8 WHERE seq = $1`, r.Seq, r.Time.UnixNano(), r.Actor, r.Action, r.Subject,
		string(r.Details.(json.RawMessage)), r.Prev[:], r.Hash[:])
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
		{"edit actor", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 5`)
		}, audit.ErrEdited, 5},
		{"edit action", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET action = 'token.verify' WHERE seq = 1`)
		}, audit.ErrEdited, 1},
		{"edit subject", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET subject = '' WHERE seq = 8`)
		}, audit.ErrEdited, 8},
		{"edit details", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET details = '{"amount":1,"class":"credit","tid":1003}' WHERE seq = 3`)
		}, audit.ErrEdited, 3},
		{"edit time", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET at_ns = at_ns + 1 WHERE seq = 2`)
		}, audit.ErrEdited, 2},
		{"edit hash", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET hash = $1 WHERE seq = 4`, junk)
		}, audit.ErrEdited, 4},
		{"short hash", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET hash = $1 WHERE seq = 4`, junk[:31])
		}, audit.ErrEdited, 4},
		{"edit prev", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET prev = $1 WHERE seq = 6`, junk)
		}, audit.ErrReordered, 6},
		{"delete middle", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `DELETE FROM audit_log WHERE seq = 5`)
		}, audit.ErrRemoved, 5},
		{"delete first", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `DELETE FROM audit_log WHERE seq = 1`)
		}, audit.ErrRemoved, 1},
		{"delete last, keep head", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `DELETE FROM audit_log WHERE seq = 8`)
		}, audit.ErrRemoved, 8},
		{"delete all, keep head", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `DELETE FROM audit_log`)
		}, audit.ErrRemoved, 1},
		{"swap seqs", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET seq = -3 WHERE seq = 3`)
			sqlExec(t, db, `UPDATE audit_log SET seq = 3 WHERE seq = 4`)
			sqlExec(t, db, `UPDATE audit_log SET seq = 4 WHERE seq = -3`)
		}, audit.ErrReordered, 3},
		{"move to the end", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_log SET seq = 9 WHERE seq = 2`)
		}, audit.ErrRemoved, 2},
		{"edit with recomputed hash", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rewrite(t, db, forge(rs[4]))
		}, audit.ErrReordered, 6},
		{"edit last with recomputed hash", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			rewrite(t, db, forge(rs[7]))
		}, audit.ErrTruncated, 8},
		{"edit head hash", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_head SET hash = $1`, junk)
		}, audit.ErrTruncated, 8},
		{"head rewound", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			sqlExec(t, db, `UPDATE audit_head SET seq = 6, hash = $1`, rs[5].Hash[:])
		}, audit.ErrTruncated, 7},
		{"head rewound to empty", func(t *testing.T, db *store.DB, l *audit.Log, _ []audit.Record) {
			g := docGenesis(l.ID())
			sqlExec(t, db, `UPDATE audit_head SET seq = 0, hash = $1`, g[:])
		}, audit.ErrTruncated, 1},
		{"head deleted", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `DELETE FROM audit_head`)
		}, audit.ErrTruncated, 0},
		{"forged past the head", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			r := rs[7]
			r.Seq, r.Prev = 9, r.Hash
			r.Hash = docHash(r)
			sqlExec(t, db, `INSERT INTO audit_log (seq, at_ns, actor, action, subject, details, prev, hash)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.Seq, r.Time.UnixNano(), r.Actor, r.Action, r.Subject,
				string(r.Details.(json.RawMessage)), r.Prev[:], r.Hash[:])
		}, audit.ErrTruncated, 9},
		{"record 0 inserted", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			sqlExec(t, db, `INSERT INTO audit_log (seq, at_ns, actor, action, subject, details, prev, hash)
				SELECT 0, at_ns, actor, action, subject, details, prev, hash FROM audit_log WHERE seq = 1`)
		}, audit.ErrReordered, 0},
		{"other log id", func(t *testing.T, db *store.DB, _ *audit.Log, _ []audit.Record) {
			sqlExec(t, db, `UPDATE audit_head SET log_id = $1`, junk[:16])
		}, audit.ErrReordered, 1},
		// The limit of any chain kept in the database alone: the tail
		// removed with the head rewound verifies; only a report kept
		// elsewhere (checked in the test) tells.
		{"tail and head removed", func(t *testing.T, db *store.DB, _ *audit.Log, rs []audit.Record) {
			sqlExec(t, db, `DELETE FROM audit_log WHERE seq > 6`)
			sqlExec(t, db, `UPDATE audit_head SET seq = 6, hash = $1`, rs[5].Hash[:])
		}, nil, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				l := openLog(t, db)
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
