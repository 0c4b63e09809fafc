package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// t0 is the time of the test clock's first tick.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// eachLog runs fn as storetest.Each does, with the log of the database
// opened by openLog.
func eachLog(t *testing.T, fn func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fn(t, context.Background(), db, openLog(t, db))
	})
}

// openLog opens the log of db with a clock that ticks 1.5 µs per reading.
func openLog(t testing.TB, db *store.DB) *audit.Log {
	t.Helper()
	l, err := audit.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	var ticks atomic.Int64
	audit.SetClock(l, func() time.Time {
		return t0.Add(time.Duration(ticks.Add(1)) * 1500 * time.Nanosecond).In(time.FixedZone("X", 3600))
	})
	return l
}

// entry returns the i-th entry of the tests.
func entry(i int) audit.Entry {
	return audit.Entry{
		Actor:   "vending:node-1",
		Action:  "token.issue",
		Subject: fmt.Sprintf("6007270000%08d", i),
		Details: map[string]any{"tid": 1000 + i, "amount": 150 * i, "class": "credit"},
	}
}

// appendN appends entries 1 to n and returns their records.
func appendN(t testing.TB, l *audit.Log, n int) []audit.Record {
	t.Helper()
	return appendEach(t, l, n, func(i int) audit.Entry { return entry(i + 1) })
}

// appendEach appends the n entries e(0) to e(n-1) one at a time and
// returns their records.
func appendEach(t testing.TB, l *audit.Log, n int, e func(i int) audit.Entry) []audit.Record {
	t.Helper()
	var rs []audit.Record
	for i := range n {
		r, err := l.AppendNow(context.Background(), e(i))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// records reads the whole log.
func records(t testing.TB, l *audit.Log) []audit.Record {
	t.Helper()
	var rs []audit.Record
	if err := l.Records(context.Background(), 1, func(r audit.Record) error {
		rs = append(rs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rs
}

// docHash computes a record's hash from the package doc, independently of
// the package.
func docHash(r audit.Record) [32]byte {
	lp := func(b []byte, s string) []byte {
		return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
	}
	b := []byte("stskms-audit-v1\x00")
	b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = lp(b, r.Actor)
	b = lp(b, r.Action)
	b = lp(b, r.Subject)
	b = lp(b, string(r.Details.(json.RawMessage)))
	b = append(b, r.Prev[:]...)
	return sha256.Sum256(b)
}

func docGenesis(id [16]byte) [32]byte {
	return sha256.Sum256(append([]byte("stskms-audit-genesis-v1\x00"), id[:]...))
}

func verifyOK(t testing.TB, l *audit.Log, n int64) audit.Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Records != n {
		t.Fatalf("Verify: %d records, want %d", rep.Records, n)
	}
	return rep
}

func TestAppendVerify(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		rep := verifyOK(t, l, 0)
		if rep.LogID != l.ID() || rep.Head != docGenesis(l.ID()) {
			t.Errorf("empty log: report %+v, want head = genesis", rep)
		}

		appended := appendN(t, l, 10)
		r, err := l.AppendNow(ctx, audit.Entry{Actor: "officer:alice", Action: "slot.install",
			Details: json.RawMessage(`{ "slot": 2, "fingerprint": "ab:cd", "b": [ {"y":1, "x":2} ] }`)})
		if err != nil {
			t.Fatal(err)
		}
		appended = append(appended, r)
		if got, want := string(r.Details.(json.RawMessage)), `{"b":[{"x":2,"y":1}],"fingerprint":"ab:cd","slot":2}`; got != want {
			t.Errorf("details = %s, want %s", got, want)
		}

		rep = verifyOK(t, l, 11)
		if rep.Head != r.Hash {
			t.Errorf("report head %x, want the last record's %x", rep.Head, r.Hash)
		}
		got := records(t, l)
		if len(got) != len(appended) {
			t.Fatalf("%d records, want %d", len(got), len(appended))
		}
		prev := docGenesis(l.ID())
		for i, r := range got {
			a := appended[i]
			if r.Seq != int64(i+1) || r.Prev != prev || r.Hash != docHash(r) {
				t.Errorf("record %d: seq %d, prev %x (want %x), hash %x (want %x)", i+1, r.Seq, r.Prev, prev, r.Hash, docHash(r))
			}
			if r.Seq != a.Seq || r.Hash != a.Hash || !r.Time.Equal(a.Time) || r.Actor != a.Actor ||
				r.Action != a.Action || r.Subject != a.Subject ||
				string(r.Details.(json.RawMessage)) != string(a.Details.(json.RawMessage)) {
				t.Errorf("record %d read back as %+v, appended as %+v", r.Seq, r, a)
			}
			if r.Time.Location() != time.UTC || !r.Time.Equal(t0.Add(time.Duration(i+1)*1500*time.Nanosecond)) {
				t.Errorf("record %d: time %v", r.Seq, r.Time)
			}
			prev = r.Hash
		}
		if d := string(got[0].Details.(json.RawMessage)); d != `{"amount":150,"class":"credit","tid":1001}` {
			t.Errorf("record 1 details %s", d)
		}

		// Open again: same log, carries on.
		l2 := openLog(t, db)
		if l2.ID() != l.ID() {
			t.Errorf("reopened log has id %x, was %x", l2.ID(), l.ID())
		}
		if r, err := l2.AppendNow(ctx, entry(99)); err != nil || r.Seq != 12 || r.Prev != rep.Head {
			t.Errorf("append after reopening: seq %d, %v", r.Seq, err)
		}
		verifyOK(t, l, 12)
	})
}

func TestRecordsFrom(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		appendN(t, l, 9)
		var seqs []int64
		if err := l.Records(ctx, 5, func(r audit.Record) error {
			seqs = append(seqs, r.Seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs, []int64{5, 6, 7, 8, 9}) {
			t.Errorf("from 5: %v", seqs)
		}
		stop := errors.New("stop")
		n := 0
		err := l.Records(ctx, 0, func(r audit.Record) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		})
		if err != stop || n != 3 {
			t.Errorf("Records returned %v after %d calls, want stop after 3", err, n)
		}
		if err := l.Records(ctx, 10, func(audit.Record) error { return errors.New("called") }); err != nil {
			t.Errorf("from past the end: %v", err)
		}
	})
}

// creditSchema is the state change the tests audit: credit spent.
var creditSchema = []store.Migration{{Version: 1, Name: "credit", SQL: `
	CREATE TABLE credit (one BIGINT PRIMARY KEY, used BIGINT NOT NULL);
	INSERT INTO credit (one, used) VALUES (1, 0)`}}

// migrateCredit makes the credit table of creditSchema in db.
func migrateCredit(t testing.TB, db *store.DB) {
	t.Helper()
	if err := db.Migrate(context.Background(), "audittest", creditSchema); err != nil {
		t.Fatal(err)
	}
}

// issue spends amount and audits it in one transaction of l.Tx.
func issue(ctx context.Context, l *audit.Log, amount int64, fail error) (audit.Record, error) {
	return issueIn(ctx, l.Tx, l, amount, fail)
}

// issueIn is issue in a transaction of the given kind: l.Tx or DB.Tx.
func issueIn(ctx context.Context, txf func(context.Context, func(*store.Tx) error) error, l *audit.Log,
	amount int64, fail error) (audit.Record, error) {
	var r audit.Record
	err := txf(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE credit SET used = used + $1 WHERE one = 1`, amount); err != nil {
			return err
		}
		var err error
		if r, err = l.Append(ctx, tx, audit.Entry{Actor: "vending:node-1", Action: "token.issue",
			Details: map[string]int64{"amount": amount}}); err != nil {
			return err
		}
		return fail
	})
	return r, err
}

func creditUsed(t testing.TB, db *store.DB) int64 {
	t.Helper()
	var used int64
	if err := db.QueryRow(context.Background(), `SELECT used FROM credit WHERE one = 1`).Scan(&used); err != nil {
		t.Fatal(err)
	}
	return used
}

// auditedCredit sums the amounts of the audited tokens.
func auditedCredit(t testing.TB, l *audit.Log) int64 {
	t.Helper()
	var sum int64
	for _, r := range records(t, l) {
		var d struct{ Amount int64 }
		if err := json.Unmarshal(r.Details.(json.RawMessage), &d); err != nil {
			t.Fatal(err)
		}
		sum += d.Amount
	}
	return sum
}

// TestAppendInTransaction: the state change and its record commit together
// or not at all, and a rolled-back record leaves no gap.
func TestAppendInTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		migrateCredit(t, db)
		l := openLog(t, db)
		if r, err := issue(ctx, l, 100, nil); err != nil || r.Seq != 1 {
			t.Fatalf("issue: seq %d, %v", r.Seq, err)
		}
		boom := errors.New("boom")
		if _, err := issue(ctx, l, 250, boom); err != boom {
			t.Fatalf("failed issue returned %v", err)
		}
		verifyOK(t, l, 1)
		if r, err := issue(ctx, l, 50, nil); err != nil || r.Seq != 2 {
			t.Fatalf("issue after a rollback: seq %d, %v", r.Seq, err)
		}
		verifyOK(t, l, 2)
		if used, audited := creditUsed(t, db), auditedCredit(t, l); used != 150 || audited != used {
			t.Errorf("credit used %d, audited %d, want 150", used, audited)
		}

		// Several records in one transaction.
		var rs []audit.Record
		if err := db.Tx(ctx, func(tx *store.Tx) error {
			rs = rs[:0]
			for i := range 3 {
				r, err := l.Append(ctx, tx, entry(i))
				if err != nil {
					return err
				}
				rs = append(rs, r)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if rs[0].Seq != 3 || rs[2].Seq != 5 || rs[1].Prev != rs[0].Hash || rs[2].Prev != rs[1].Hash {
			t.Errorf("records of one transaction: %+v", rs)
		}
		verifyOK(t, l, 5)
	})
}

// TestBadEntry: a refused entry writes nothing and leaves the caller's
// transaction usable (which on PostgreSQL means no statement failed).
func TestBadEntry(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		for _, d := range []any{[]int{1}, "text", 3, json.RawMessage(`null`), json.RawMessage(`{"a":1,"a":2}`), json.RawMessage(`{"x":0.5}`)} {
			if _, err := l.AppendNow(ctx, audit.Entry{Actor: "a", Action: "b", Details: d}); !errors.Is(err, audit.ErrBadEntry) {
				t.Errorf("details %v: err = %v, want ErrBadEntry", d, err)
			}
		}
		err := db.Tx(ctx, func(tx *store.Tx) error {
			_, err := l.Append(ctx, tx, audit.Entry{Actor: "a", Action: "b", Details: []string{"not", "an", "object"}})
			var ee *audit.EntryError
			if !errors.As(err, &ee) || ee.Field != "Details" {
				return fmt.Errorf("bad details: %v", err)
			}
			_, err = l.Append(ctx, tx, entry(1))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		verifyOK(t, l, 1)
	})
}

// TestConcurrentAppends: 8 goroutines, half of them on a second handle (as
// another process would be), append 50 records each in separate
// transactions of Log.Tx, half with AppendNow, half spending credit too:
// 400 records numbered 1 to 400, the chain verifies, the credit spent is
// the credit audited, and no transaction had to run twice.
func TestConcurrentAppends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		migrateCredit(t, db)
		logs := []*audit.Log{openLog(t, db), openLog(t, storetest.Reopen(t, db))}
		const workers, each = 8, 50
		var runs atomic.Int64
		seqs := concurrently(t, workers, each, func(w, i int) (audit.Record, error) {
			l := logs[w%2]
			if w < workers/2 {
				return l.AppendNow(ctx, audit.Entry{Actor: fmt.Sprintf("worker-%d", w), Action: "test.append",
					Details: map[string]int{"i": i}})
			}
			var r audit.Record
			err := l.Tx(ctx, func(tx *store.Tx) error {
				runs.Add(1)
				if _, err := tx.Exec(ctx, `UPDATE credit SET used = used + $1 WHERE one = 1`, i); err != nil {
					return err
				}
				var err error
				r, err = l.Append(ctx, tx, audit.Entry{Actor: fmt.Sprintf("worker-%d", w), Action: "token.issue",
					Details: map[string]int{"amount": i}})
				return err
			})
			return r, err
		})
		if seqs == nil {
			return
		}
		verifyOK(t, logs[1], workers*each)
		if rs := records(t, logs[0]); len(rs) != workers*each || rs[len(rs)-1].Seq != workers*each {
			t.Errorf("%d records", len(rs))
		}
		if used, audited := creditUsed(t, db), auditedCredit(t, logs[0]); used != audited {
			t.Errorf("credit used %d, audited %d", used, audited)
		}
		if n := runs.Load(); n != workers/2*each {
			t.Errorf("%d transactions of Log.Tx took %d runs", workers/2*each, n)
		}
	})
}

// TestConcurrentPlainTx: appends in plain DB.Tx transactions are correct
// too, PostgreSQL's serialization failures being retried by store.
func TestConcurrentPlainTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		migrateCredit(t, db)
		l := openLog(t, db)
		const workers, each = 4, 25
		if concurrently(t, workers, each, func(w, i int) (audit.Record, error) {
			return issueIn(ctx, db.Tx, l, int64(i), nil)
		}) == nil {
			return
		}
		verifyOK(t, l, workers*each)
		if used, audited := creditUsed(t, db), auditedCredit(t, l); used != audited {
			t.Errorf("credit used %d, audited %d", used, audited)
		}
	})
}

// concurrently runs add(w, i) for i < each in each of workers goroutines w
// and checks that the records it returns are numbered 1 to workers·each.
// It returns their seqs, or nil after reporting a failure.
func concurrently(t *testing.T, workers, each int, add func(w, i int) (audit.Record, error)) []int64 {
	t.Helper()
	var mu sync.Mutex
	var seqs []int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r, err := add(w, i)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seqs = append(seqs, r.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return nil
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Errorf("appends returned seqs %v…, want 1..%d", seqs[:i+1], workers*each)
			return nil
		}
	}
	return seqs
}

// TestVerifyWhileAppending: appends committed while Verify reads are not
// mistaken for records forged past the head.
func TestVerifyWhileAppending(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		appendN(t, l, 20)
		done := make(chan struct{})
		var appended atomic.Int64
		go func() {
			defer close(done)
			for i := range 150 {
				if _, err := l.AppendNow(ctx, entry(i)); err != nil {
					t.Error(err)
					return
				}
				appended.Add(1)
			}
		}()
		verifies := 0
		var last int64
		for running := true; running; verifies++ {
			select {
			case <-done:
				running = false
			default:
			}
			before := appended.Load()
			rep, err := l.Verify(ctx)
			if err != nil {
				t.Errorf("Verify during appends: %v", err)
				break
			}
			if rep.Records < 20+before || rep.Records < last {
				t.Errorf("Verify saw %d records, had %d before, %d appended", rep.Records, last, 20+before)
				break
			}
			last = rep.Records
		}
		<-done
		verifyOK(t, l, 170)
		t.Logf("%d verifies during 150 appends", verifies)
	})
}

// TestAppendOnly: the database itself refuses to change or delete records.
func TestAppendOnly(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		appendN(t, l, 3)
		for _, q := range []string{
			`UPDATE audit_log SET actor = 'mallory' WHERE seq = 2`,
			`DELETE FROM audit_log WHERE seq = 3`,
			`DELETE FROM audit_log`,
		} {
			if _, err := db.Exec(ctx, q); err == nil {
				t.Errorf("%s: no error", q)
			}
		}
		if db.Dialect() == store.PostgreSQL {
			if _, err := db.Exec(ctx, `TRUNCATE audit_log`); err == nil {
				t.Error("TRUNCATE: no error")
			}
		}
		verifyOK(t, l, 3)
	})
}
