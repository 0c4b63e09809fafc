package auditconsole

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/audit/audittest"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var errRole = errors.New("role refused")

// testSource is the Source of a log on db with an audit key (record 1)
// and n records more (2 to n+1), whose rules let officers and auditors
// in, as both components' do.
func testSource(t *testing.T, db *store.DB, n int) (Source, *audit.Log) {
	t.Helper()
	ctx := context.Background()
	l, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := audittest.Key(t, l)
	appendN(t, l, n)
	allow := func(a role.Actor, _ string) error {
		if a.Role != role.Officer && a.Role != role.Auditor {
			return errRole
		}
		return nil
	}
	return Checked(allow, "audit.verify", l, func(ctx context.Context) ([]byte, error) {
		signed, _, err := l.Checkpoint(ctx, s)
		return signed, err
	}), l
}

// appendN appends n records: actors op-0 to op-2, actions in turn
// token.issue, klf.load, token.verify.
func appendN(t *testing.T, l *audit.Log, n int) {
	t.Helper()
	for i := range n {
		e := audit.Entry{Actor: fmt.Sprintf("operator:op-%d", i%3), Action: []string{"token.issue", "klf.load", "token.verify"}[i%3],
			Subject: fmt.Sprint(600727000000000000 + i), Details: map[string]int{"tid": i}}
		if _, err := l.AppendNow(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// page reads the page of query as a.
func page(t *testing.T, src Source, a role.Actor, query string) (*View, error) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	return read(context.Background(), src, a, console.Query{Values: q})
}

// seqsOf returns the page's sequence numbers.
func seqsOf(v *View) []int64 {
	out := []int64{}
	for _, r := range v.Rows {
		out = append(out, r.Seq)
	}
	return out
}

// span returns the sequence numbers from hi down to lo.
func span(hi, lo int64) []int64 {
	out := []int64{}
	for s := hi; s >= lo; s-- {
		out = append(out, s)
	}
	return out
}

var auditor = role.Auditor.As("carol")

// TestPaging: 120 records are three pages, newest first; page 2 shows
// records 70 to 21 and still does after the log grew (its links keep
// "upto"); a page past the end is the last.
func TestPaging(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		src, l := testSource(t, db, 119)
		v, err := page(t, src, auditor, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqsOf(v), span(120, 71)) || v.Window.Total != 120 || v.Window.Pages() != 3 {
			t.Fatalf("page 1: seqs %v, window %+v", seqsOf(v), v.Window)
		}
		next := v.Window.Next()
		if !strings.Contains(next, "upto=120") || !strings.Contains(next, "p=2") {
			t.Errorf("next page link %q", next)
		}
		if v.Rows[0].Details != `{"tid":118}` || v.Rows[0].Action != "klf.load" || v.Rows[0].Actor != "operator:op-1" {
			t.Errorf("newest row %+v", v.Rows[0])
		}
		appendN(t, l, 7)
		v, err = page(t, src, auditor, next[1:])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqsOf(v), span(70, 21)) || v.Window.Number != 2 {
			t.Errorf("page 2: seqs %v, window %+v", seqsOf(v), v.Window)
		}
		if v, _ = page(t, src, auditor, "verify=1"); v.Verified == nil || strings.Contains(v.Window.Next(), "verify") {
			t.Errorf("verified %+v; next page %q verifies again", v.Verified, v.Window.Next())
		}
		if v, err = page(t, src, auditor, "p=9223372036854775807"); err != nil {
			t.Fatalf("the largest page number: %v", err)
		}
		if v.Window.Number != 3 || !slices.Equal(seqsOf(v), span(27, 1)) {
			t.Errorf("the largest page number: window %+v", v.Window)
		}
		if v, _ = page(t, src, auditor, "p=9"); !slices.Equal(seqsOf(v), span(27, 1)) || v.Window.Number != 3 {
			t.Errorf("page 9 of 127 records: seqs %v, window %+v", seqsOf(v), v.Window)
		}
	})
}

// TestFiltering: the action prefix, actor and dates select on the server,
// with the total of all that match; a bad filter is a 400 naming its
// field.
func TestFiltering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		src, l := testSource(t, db, 90) // 91 records
		var first, last time.Time
		l.Records(context.Background(), 1, func(r audit.Record) error {
			if first.IsZero() {
				first = r.Time
			}
			last = r.Time
			return nil
		})
		day := func(t time.Time, days int) string { return t.AddDate(0, 0, days).Format(time.DateOnly) }
		for _, tc := range []struct {
			query string
			total int
			seqs  []int64
		}{
			{"action=klf.", 30, []int64{90, 87, 84}},                             // seqs 3, 6, … 90
			{"action=token.&actor=operator:op-0&p=2", 30, []int64{89, 86, 83}},   // one page: p=2 is p=1
			{"action=token.&actor=operator:op-0", 30, []int64{89, 86, 83}},       // token.issue by op-0
			{"actor=operator:op-2&action=token.verify", 30, []int64{91, 88, 85}}, // seqs 4, 7, … 91
			{"action=token%25", 0, []int64{}},
			{"from=" + day(first, 0) + "&to=" + day(last, 0), 91, []int64{91, 90, 89}},
			{"from=" + day(last, 1), 0, []int64{}},
			{"to=" + day(first, -1), 0, []int64{}},
		} {
			v, err := page(t, src, auditor, tc.query)
			if err != nil {
				t.Fatalf("%s: %v", tc.query, err)
			}
			if got := seqsOf(v); v.Window.Total != tc.total || !slices.Equal(got[:min(3, len(got))], tc.seqs) {
				t.Errorf("%s: total %d, want %d; seqs %v, want %v…", tc.query, v.Window.Total, tc.total, got, tc.seqs)
			}
		}
		for _, tc := range []struct{ query, field string }{
			{"from=2026-13-01", "from"},
			{"to=yesterday", "to"},
			{"from=2026-12-06&to=2026-12-05", "to"},
			{"actor=" + strings.Repeat("x", 201), "actor"},
			{"action=" + strings.Repeat("x", 201), "action"},
			{"upto=-3", "upto"},
		} {
			var ie *console.InputError
			if _, err := page(t, src, auditor, tc.query); !errors.As(err, &ie) || ie.Field != tc.field {
				t.Errorf("%s: %v, want a bad %s", tc.query, err, tc.field)
			}
		}
	})
}

// disableTriggers lets the test change the log's rows as someone with
// the database's owner rights could.
func disableTriggers(t *testing.T, db *store.DB) {
	t.Helper()
	qs := []string{`DROP TRIGGER audit_log_no_update`, `DROP TRIGGER audit_log_no_delete`}
	if db.Dialect() == store.PostgreSQL {
		qs = []string{`ALTER TABLE audit_log DISABLE TRIGGER USER`}
	}
	for _, q := range qs {
		if _, err := db.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestVerify: the verification of a sound log says so with its size; a
// forged record or a cut tail fails, naming the record and why.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, edit, problem string
	}{
		{"forged", `UPDATE audit_log SET actor = 'officer:mallory' WHERE seq = 7`, "chain broken at record 7 (edited)"},
		{"cut", `DELETE FROM audit_log WHERE seq > 15`, "chain broken at record 16 (removed)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				src, _ := testSource(t, db, 19)
				v, err := page(t, src, auditor, "verify=1")
				if err != nil {
					t.Fatal(err)
				}
				if ok := v.Verified; ok == nil || !ok.OK || ok.Records != 20 || ok.Problem != "" || ok.Root == "" {
					t.Fatalf("sound log: %+v", ok)
				}
				disableTriggers(t, db)
				if _, err := db.Exec(ctx, tc.edit); err != nil {
					t.Fatal(err)
				}
				v, err = page(t, src, role.Officer.As("alice"), "verify=1")
				if err != nil {
					t.Fatal(err)
				}
				if bad := v.Verified; bad == nil || bad.OK || !strings.Contains(bad.Problem, tc.problem) || bad.Root != "" {
					t.Errorf("damaged log: %+v, want a failure with %q", bad, tc.problem)
				}
			})
		})
	}
}

// TestCheckpoint: the download is the checkpoint the log's own signer
// made, named after its size, and verifies with the log's verifier key
// and the audit package's checker; an operator gets none, and nothing is
// signed for him.
func TestCheckpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		src, l := testSource(t, db, 32)
		if _, err := download(ctx, src, role.Operator.As("pos")); !errors.Is(err, errRole) {
			t.Errorf("operator: %v, want the role refused", err)
		}
		if _, err := page(t, src, role.Operator.As("pos"), ""); !errors.Is(err, errRole) {
			t.Errorf("operator reads the page: %v, want the role refused", err)
		}
		if n := kept(t, db); n != 0 {
			t.Errorf("%d checkpoints kept for the operator", n)
		}
		f, err := download(ctx, src, auditor)
		if err != nil {
			t.Fatal(err)
		}
		v, err := l.Verifier(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, err := audit.OpenCheckpoint(f.Body, v)
		if err != nil || c.Size != 33 || f.Name != "audit-checkpoint-33.txt" || f.Type != "text/plain; charset=utf-8" {
			t.Errorf("checkpoint %q (%s, %s): %+v, %v", f.Body, f.Name, f.Type, c, err)
		}
		if _, err := l.VerifyTree(ctx, nil, f.Body); err != nil {
			t.Errorf("the log does not extend its own checkpoint: %v", err)
		}
		f.Body[len(f.Body)-5] ^= 1
		if _, err := audit.OpenCheckpoint(f.Body, v); err == nil {
			t.Error("an altered checkpoint verified")
		}
		if n := kept(t, db); n != 1 {
			t.Errorf("%d checkpoints kept, want 1", n)
		}
		p, err := page(t, src, auditor, "")
		if err != nil || p.Key == "" || !strings.HasPrefix(p.Key, l.Origin()+"+") {
			t.Errorf("verifier key %q, %v", p.Key, err)
		}
	})
}

// kept is how many checkpoints the database keeps.
func kept(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_checkpoint`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
