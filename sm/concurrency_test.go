package sm_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// TestConcurrentCreditLimit: 64 clients vend against one register whose
// credit limit is far below their demand, on both back ends and, for
// PostgreSQL, through two module handles on the same database as two
// processes would. The limit is never exceeded: what the tokens carry
// adds up to exactly what left the limit, every refusal is 31, no meter
// gets a TID twice, a request id sent twice at once gets one token, and
// the audit log holds one record per token with the same sum.
func TestConcurrentCreditLimit(t *testing.T) {
	const (
		clients  = 64
		requests = 8
		limit    = 8000
		meters   = 8
	)
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := f.loadLimited(limit)
		modules := []*sm.Module{f.m}
		if f.db.Dialect() == store.PostgreSQL {
			opts := f.opts
			opts.DB = storetest.Reopen(t, f.db)
			m2, err := sm.Open(f.ctx, f.dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer m2.Close()
			modules = append(modules, m2)
		}
		type vend struct {
			id     string
			ans    sm.Issued
			amount uint64
		}
		var (
			mu      sync.Mutex
			issued  []vend
			refused int
			wg      sync.WaitGroup
		)
		for c := range clients {
			wg.Go(func() {
				m := modules[c%len(modules)]
				for r := range requests {
					from := c
					if r == 0 && c%2 == 1 {
						from = c - 1 // the same request as the client before
					}
					id := fmt.Sprintf("c%d-r%d", from, r)
					amount := uint64(10 + (from*requests+r)%50)
					ans, err := m.Credit(f.ctx, operator, sm.CreditRequest{ID: id, Meter: meterKey(t, from%meters, k),
						Sub: sts.Electricity, Amount: amount})
					mu.Lock()
					switch {
					case err == nil:
						issued = append(issued, vend{id, ans, amount})
					case sm.CodeOf(err) == sm.CodeCreditLimit:
						refused++
					default:
						t.Errorf("%s: %v", id, err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()

		var sum uint64
		tokens := map[string]string{}
		tids := map[string]bool{}
		for _, v := range issued {
			if prev, ok := tokens[v.id]; ok {
				if prev != v.ans.Tokens[0] {
					t.Errorf("request %s answered with two tokens", v.id)
				}
				continue
			}
			tokens[v.id] = v.ans.Tokens[0]
			sum += v.ans.Amount
			key := fmt.Sprintf("%d/%d", v.ans.TID, meterOf(v.id, meters))
			if tids[key] {
				t.Errorf("TID %s issued twice", key)
			}
			tids[key] = true
		}
		used := creditUsed(t, f.m)
		if sum > limit || sum != used {
			t.Fatalf("tokens carry %d, the limit lost %d, limit %d", sum, used, limit)
		}
		if limit-used >= 59 && refused > 0 { // 59 is the largest amount asked
			t.Errorf("%d left unused but %d requests refused", limit-used, refused)
		}
		wantAudited(t, f.m, used, len(tokens))
		t.Logf("%d tokens carrying %d of %d, %d refused (31), %d handles", len(tokens), sum, limit, refused, len(modules))
	})
}

// meterOf returns the meter number of a request id "cC-rR".
func meterOf(id string, meters int) int {
	var c, r int
	fmt.Sscanf(id, "c%d-r%d", &c, &r)
	return c % meters
}

// TestGroupCommitCancelled: requests that share a transaction (group
// commit) keep their own outcomes when some of their callers give up
// midway (contexts cancelled at random): a failed request is either not
// issued at all or, sent again, answered with the token it committed; the
// credit limit lost exactly what the audited tokens carry.
func TestGroupCommitCancelled(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		f.load(k)
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			failed []sm.CreditRequest
			tokens = map[string]string{}
		)
		for c := range 32 {
			wg.Go(func() {
				for r := range 10 {
					req := sm.CreditRequest{ID: fmt.Sprintf("g%d-%d", c, r), Meter: meterKey(t, c, k), Sub: sts.Electricity, Amount: 7}
					ctx, cancel := context.WithCancel(context.Background())
					if c%2 == 0 {
						ctx, cancel = context.WithTimeout(context.Background(), time.Duration(rand.IntN(20000))*time.Microsecond)
					}
					ans, err := f.m.Credit(ctx, operator, req)
					cancel()
					mu.Lock()
					if err != nil {
						failed = append(failed, req)
					} else {
						tokens[req.ID] = ans.Tokens[0]
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		replayed := 0
		for _, req := range failed {
			ans, err := f.m.Credit(context.Background(), operator, req)
			if err != nil {
				t.Fatal(err)
			}
			if ans.Replayed {
				replayed++
			}
			tokens[req.ID] = ans.Tokens[0]
		}
		if used := creditUsed(t, f.m); used != uint64(7*len(tokens)) || len(tokens) != 320 {
			t.Fatalf("%d tokens, the limit lost %d", len(tokens), used)
		}
		if _, err := f.m.VerifyAudit(f.ctx, auditor); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d requests failed with their callers, %d of them had committed", len(failed), replayed)
	})
}
