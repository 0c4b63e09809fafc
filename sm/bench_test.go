package sm_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// BenchmarkCredit issues credit tokens through the Go API, each in its own
// durable transaction with its audit record (SQLite: WAL, synchronous=FULL;
// PostgreSQL as the test server runs it, fsync off), one meter per token
// as a vending front end would spread them. "serial" is one client,
// "parallel" GOMAXPROCS·4 clients. It reports tokens/s.
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
			})
		})
	}
}
