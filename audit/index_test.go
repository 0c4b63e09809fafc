package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// sinceQuery is the shape of the reads by action and time (Since, sm's
// Issues and IssueCounts).
const sinceQuery = `SELECT seq, actor FROM audit_log WHERE at_ns >= $1 AND action IN ($2, $3) ORDER BY seq`

// TestActionIndex: the log is indexed by action and time (schema step 3),
// and the planner of each back end reads a few actions from a time on
// through that index rather than by scanning the whole log. On PostgreSQL
// the planner is told to avoid a sequential scan, which it prefers for a
// table this small.
func TestActionIndex(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		appendEach(t, l, 200, func(i int) audit.Entry {
			e := entry(i)
			e.Action = []string{"token.credit", "token.test", "klf.issue", "sm.open"}[i%4]
			return e
		})
		if v, err := db.Version(ctx, "audit"); err != nil || v != 3 {
			t.Fatalf("audit schema version = %d, %v; want 3", v, err)
		}
		plan := queryPlan(t, ctx, db, sinceQuery, int64(0), "klf.issue", "sm.open")
		if !strings.Contains(plan, "audit_log_action_at") {
			t.Errorf("%s plan of a read by action and time does not use the index:\n%s", db.Dialect(), plan)
		}
	})
}

// queryPlan returns the plan the back end of db makes for query, as text.
func queryPlan(t *testing.T, ctx context.Context, db *store.DB, query string, args ...any) string {
	t.Helper()
	var lines []string
	err := db.Tx(ctx, func(tx *store.Tx) error {
		lines = nil
		explain := "EXPLAIN QUERY PLAN "
		if db.Dialect() == store.PostgreSQL {
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			explain = "EXPLAIN "
		}
		rows, err := tx.Query(ctx, explain+query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// BenchmarkSince reads the 500 records of one action among 50,000 with
// Since, as an activity chart or /metrics does at each request: through
// the index (schema step 3), and by a scan of the log after the index is
// dropped, for comparison in one run.
func BenchmarkSince(b *testing.B) {
	const records, perTx, every = 50000, 5000, 100
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		l := openLog(b, db)
		for i := 0; i < records; i += perTx {
			es := make([]audit.Entry, perTx)
			for j := range es {
				es[j] = entry(i + j)
				if (i+j)%every == 0 {
					es[j].Action = "klf.refuse"
				}
			}
			if err := db.Tx(ctx, func(tx *store.Tx) error {
				_, err := l.AppendBatch(ctx, tx, es)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
		read := func(b *testing.B) {
			for b.Loop() {
				n := 0
				if err := l.Since(ctx, time.Time{}, []string{"klf.refuse"}, func(audit.Record) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				if n != records/every {
					b.Fatalf("Since read %d records, want %d", n, records/every)
				}
			}
		}
		b.Run("indexed", read)
		if _, err := db.Exec(ctx, `DROP INDEX audit_log_action_at`); err != nil {
			b.Fatal(err)
		}
		b.Run("scan", read)
	})
}
