package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// BenchmarkIssueKLF25HTTP is kmc's BenchmarkIssueKLF25 through the admin
// API on loopback: POST /v1/klfs for a module authorised for 25 supply
// groups, one VUDK each, one request after the other, each answered with
// its file (JSON, bearer token checked, role checked). Reports requests/s.
func BenchmarkIssueKLF25HTTP(b *testing.B) {
	storetest.EachB(b, func(b *testing.B, db *store.DB) {
		e := start(b, db, setup{mode: kmc.ModeTest})
		s := newTestSM(b, "sts-test-sm", "94000001")
		e.register(s)
		for g := range 25 {
			sgc := 100000 + g
			e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: sgc, Name: fmt.Sprint("g", g)}, nil)
			e.do("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: sgc, Type: "VUDK",
				ACT: e.clock.Now().Add(-time.Hour)}}, nil)
			e.do("operator", "POST", "/v1/kuas", api.GrantRequest{SM: "94000001", SGC: sgc, Types: []string{"VUDK"},
				Until: e.clock.Now().AddDate(1, 0, 0)}, nil)
		}
		start := e.clock.Now()
		reqs := make([]api.IssueRequest, b.N)
		for i := range reqs {
			text, _, _ := s.request(e, start.Add(time.Duration(i+1)*time.Second))
			reqs[i] = api.IssueRequest{Request: text}
		}
		op := e.as("operator")
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			e.clock.Set(start.Add(time.Duration(i+1) * time.Second))
			var klf api.KLFAnswer
			if err := op.Do(e.ctx, "POST", "/v1/klfs", reqs[i], &klf); err != nil {
				b.Fatal(err)
			}
			if len(klf.Keys) != 25 {
				b.Fatalf("%d keys", len(klf.Keys))
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}
