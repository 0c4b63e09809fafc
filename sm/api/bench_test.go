package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sts"
)

// BenchmarkCreditHTTP credits tokens through the API on loopback (SQLite,
// durable audit, group commit): "single" one token per request, "batched"
// 256 per request, from 8 parallel clients each with its own connection.
// It reports tokens/s.
func BenchmarkCreditHTTP(b *testing.B) {
	for _, batch := range []int{1, 256} {
		name := map[bool]string{true: "single", false: "batched"}[batch == 1]
		b.Run(name, func(b *testing.B) {
			e := start(b)
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				c := e.client(sm.Operator)
				c.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				for pb.Next() {
					reqs := make([]api.CreditRequest, batch)
					for j := range reqs {
						i := int(n.Add(1))
						reqs[j] = api.CreditRequest{RequestID: fmt.Sprint("bench-", i), Meter: api.MeterOf(apitest.Meter(i % 1000)),
							Subclass: sts.Electricity, Amount: 10}
					}
					var err error
					if batch == 1 {
						_, err = c.Credit(ctx, reqs[0])
					} else {
						_, err = c.CreditBatch(ctx, reqs)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
