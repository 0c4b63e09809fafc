package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestAppendBatch: a batch appended between single appends continues the
// chain, its records are those Records reads back (canonical details,
// hashes as the package doc computes them), and a batch with a bad entry
// writes nothing and leaves the transaction usable.
func TestAppendBatch(t *testing.T) {
	eachLog(t, func(t *testing.T, ctx context.Context, db *store.DB, l *audit.Log) {
		appendN(t, l, 2)
		var got []audit.Record
		es := []audit.Entry{entry(3), entry(4),
			{Actor: "op", Action: "token.credit", Subject: "x", Details: map[string]any{"z": []string{"a\"<>&\n"}, "a": map[string]any{"n": -7, "b": true, "nil": nil}}},
			{Actor: "op", Action: "struct", Details: struct {
				B int `json:"b"`
				A int `json:"a"`
			}{2, 1}}}
		err := l.Tx(ctx, func(tx *store.Tx) error {
			var err error
			got, err = l.AppendBatch(ctx, tx, es)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 1)
		all := records(t, l)
		if len(got) != len(es) || len(all) != 7 {
			t.Fatalf("%d records returned, %d in the log", len(got), len(all))
		}
		for i, r := range got {
			want := all[2+i]
			if r.Seq != int64(3+i) || r.Hash != want.Hash || r.Prev != want.Prev || !r.Time.Equal(want.Time) ||
				string(r.Details.(json.RawMessage)) != string(want.Details.(json.RawMessage)) || docHash(want) != want.Hash {
				t.Errorf("record %d: returned %+v, stored %+v", i, r, want)
			}
		}
		if d := string(all[4].Details.(json.RawMessage)); d != `{"a":{"b":true,"n":-7,"nil":null},"z":["a\"<>&\n"]}` {
			t.Errorf("details %s", d)
		}
		if d := string(all[5].Details.(json.RawMessage)); d != `{"a":1,"b":2}` {
			t.Errorf("details of a struct %s", d)
		}
		if all[2].Prev != all[1].Hash || all[6].Prev != all[5].Hash {
			t.Error("the batch does not continue the chain")
		}
		err = db.Tx(ctx, func(tx *store.Tx) error {
			_, err := l.AppendBatch(ctx, tx, []audit.Entry{entry(8), {Actor: "a", Action: "b", Details: map[string]any{"x": 1 << 60}}})
			var ee *audit.EntryError
			if !errors.As(err, &ee) {
				return err
			}
			if rs, err := l.AppendBatch(ctx, tx, nil); err != nil || len(rs) != 0 {
				return err
			}
			_, err = l.Append(ctx, tx, entry(8))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		verifyOK(t, l, 8)
		if got := seqs(records(t, l)); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Errorf("seqs %v", got)
		}
	})
}

// TestAppendBatchHead: batches one after the other (the handle knows the
// head), after a rolled-back batch and after appends through another handle
// (its guess of the head is wrong) all continue the one chain.
func TestAppendBatchHead(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l, other := openLog(t, db), openLog(t, db)
		batch := func(l *audit.Log, fail error, es ...audit.Entry) error {
			return l.Tx(ctx, func(tx *store.Tx) error {
				if _, err := l.AppendBatch(ctx, tx, es); err != nil {
					return err
				}
				return fail
			})
		}
		boom := errors.New("boom")
		steps := []struct {
			l    *audit.Log
			fail error
			n    int
		}{{l, nil, 3}, {l, nil, 2}, {l, boom, 4}, {l, nil, 1}, {other, nil, 2}, {l, nil, 2}, {other, boom, 1}, {other, nil, 1}}
		want := int64(0)
		for i, s := range steps {
			var es []audit.Entry
			for j := range s.n {
				es = append(es, entry(10*i+j))
			}
			if err := batch(s.l, s.fail, es...); err != s.fail {
				t.Fatalf("step %d: %v", i, err)
			}
			if s.fail == nil {
				want += int64(s.n)
			}
			verifyOK(t, l, want)
		}
	})
}
