package sm_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// BenchmarkOpen opens a module whose audit log holds 10,000 records (and
// $STSKMS_BENCH_OPEN_RECORDS more sizes, comma-separated, e.g. 2000000):
// Open runs the self-tests, whose audit check is logarithmic in the log's
// size (audit.Log.Check), so the time should not grow with it.
func BenchmarkOpen(b *testing.B) {
	sizes := []int{10000}
	for _, s := range strings.FieldsFunc(os.Getenv("STSKMS_BENCH_OPEN_RECORDS"), func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			storetest.EachB(b, func(b *testing.B, db *store.DB) {
				f := newFixture(b, db, sm.Vending)
				f.m.Close()
				fillLog(b, db, n)
				for b.Loop() {
					m, err := sm.Open(f.ctx, f.dir, f.opts)
					if err != nil {
						b.Fatal(err)
					}
					if err := m.Fault(); err != nil {
						b.Fatal(err)
					}
					m.Close()
				}
			})
		})
	}
}

// fillLog appends n records to the audit log of db, 5000 a transaction.
func fillLog(b *testing.B, db *store.DB, n int) {
	ctx := context.Background()
	l, err := audit.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	const perTx = 5000
	es := make([]audit.Entry, perTx)
	for i := 0; i < n; i += perTx {
		for j := range es {
			es[j] = audit.Entry{Actor: "operator:bench", Action: "token.issue", Subject: fmt.Sprintf("%018d", i+j),
				Details: map[string]any{"tid": i + j, "amount": 10}}
		}
		if err := l.Tx(ctx, func(tx *store.Tx) error {
			_, err := l.AppendBatch(ctx, tx, es[:min(perTx, n-i)])
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
