package kmc_test

import (
	"testing"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// BenchmarkIssueKLF25 is the issue's speed target: Key Load Files for a
// module authorised for 25 supply groups, one VUDK each, one request after
// the other (each fresh and new, so each gets its file): every check, 25
// keys unsealed and wrapped, the request recorded and the issue audited,
// committed (SQLite: synchronous=FULL). Reports requests/s; the target is
// ≥ 200/s on SQLite.
func BenchmarkIssueKLF25(b *testing.B) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		w := newWorld(b, db, kmc.ModeTest)
		s := newSM(b, "sts-test-sm", "94000001")
		w.register(s, kmc.Vending)
		for g := range 25 {
			w.addSGC(100000 + g)
			w.genKey(attrs(100000+g, kmc.VUDK))
			w.grant(s, 100000+g, kmc.VUDK)
		}
		pk := w.pk()
		reqs := make([]*records.VKLoadReq, b.N)
		for i := range reqs {
			reqs[i] = s.request(b, pk, t0.Add(time.Duration(i)*time.Second))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			w.clock.Set(reqs[i].Time)
			klf, err := w.k.IssueKLF(w.ctx, "gateway", reqs[i])
			if err != nil {
				b.Fatal(err)
			}
			if len(klf.Keys) != 25 {
				b.Fatalf("%d keys", len(klf.Keys))
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}
