package sm_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// BenchmarkCredit issues credit tokens through the Go API, each durable
// with its audit record before it is returned (SQLite: WAL,
// synchronous=FULL; PostgreSQL as the test server runs it, fsync off), one
// meter per token as a vending front end would spread them. "serial" is one
// client calling Credit (a transaction per token), "parallel" GOMAXPROCS·4
// clients calling Credit (group commit merges them), "batch256"
// GOMAXPROCS·4 clients calling CreditBatch with 256 requests. It reports
// tokens/s.
func BenchmarkCredit(b *testing.B) {
	for _, alg := range []dkga.Algorithm{dkga.DKGA02, dkga.DKGA04} {
		b.Run("DKGA"+alg.String(), func(b *testing.B) {
			storetest.EachB(b, func(b *testing.B, db *store.DB) {
				f := newFixture(b, db, sm.Vending)
				k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, alg)
				f.load(k)
				pans := make([]sm.MeterKey, 1000)
				for i := range pans {
					pans[i] = meterKey(b, i, k)
				}
				var n atomic.Int64
				vend := func(b *testing.B) {
					i := n.Add(1)
					_, err := f.m.Credit(f.ctx, operator, sm.CreditRequest{ID: fmt.Sprint("b", i), Meter: pans[i%int64(len(pans))],
						Sub: sts.Electricity, Amount: 10})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.Run("serial", func(b *testing.B) {
					for b.Loop() {
						vend(b)
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
				})
				b.Run("parallel", func(b *testing.B) {
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							vend(b)
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
				})
				b.Run("batch256", func(b *testing.B) {
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						reqs := make([]sm.CreditRequest, 256)
						for pb.Next() {
							for j := range reqs {
								i := n.Add(1)
								reqs[j] = sm.CreditRequest{ID: fmt.Sprint("b", i), Meter: pans[i%int64(len(pans))], Sub: sts.Electricity, Amount: 10}
							}
							_, errs := f.m.CreditBatch(f.ctx, operator, reqs)
							if err := errors.Join(errs...); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "tokens/s")
				})
			})
		})
	}
}
