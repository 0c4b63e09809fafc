package sm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// TestCreditBatch: 8 clients send batches of 64 credit requests at once
// against a credit limit below their demand. Each batch holds a request
// sent twice in it, one of the batch before it, one refused for its amount
// and one reusing an id for another request (refused, unless the limit
// ran out before either was issued): each gets its own answer, the
// others are issued until the limit runs out (31), never beyond it; a
// request id gets one token however often it is sent; a TID goes to one
// token per meter; the audit log holds one record per token with the same
// credit. Sent again whole, a batch is answered from the stored answers.
func TestCreditBatch(t *testing.T) {
	const (
		clients = 8
		size    = 64
		limit   = 12000
		meters  = 16
	)
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := f.loadLimited(limit)
		request := func(c, i int) sm.CreditRequest {
			return sm.CreditRequest{ID: fmt.Sprintf("c%d-%d", c, i), Meter: meterKey(t, (c*size+i)%meters, k),
				Sub: sts.Electricity, Amount: uint64(10 + (c*size+i)%40)}
		}
		batches := make([][]sm.CreditRequest, clients)
		for c := range batches {
			for i := range size {
				batches[c] = append(batches[c], request(c, i))
			}
			batches[c][1] = batches[c][0]                     // twice in the batch
			batches[c][2] = request((c+clients-1)%clients, 3) // in the batch before
			batches[c][4].Amount = 0                          // refused: 63
			batches[c][5].ID = batches[c][6].ID               // reused for another request
		}
		var (
			mu     sync.Mutex
			tokens = map[string]sm.Issued{}
			meter  = map[string]string{} // request id → PAN
			wg     sync.WaitGroup
		)
		refused := 0
		check := func(c int, out []sm.Issued, errs []error, replay bool) {
			mu.Lock()
			defer mu.Unlock()
			for i, req := range batches[c] {
				err := errs[i]
				switch {
				case i == 4:
					if sm.CodeOf(err) != sm.CodeRange {
						t.Errorf("%s with amount 0: %v", req.ID, err)
					}
				case errors.Is(err, sm.ErrRequestReused):
					// Of requests 5 and 6, the one that came second.
				case err == nil:
					if replay && !out[i].Replayed {
						t.Errorf("%s sent again: not replayed", req.ID)
					}
					if prev, ok := tokens[req.ID]; ok && prev.Tokens[0] != out[i].Tokens[0] {
						t.Errorf("request %s answered with two tokens", req.ID)
					}
					tokens[req.ID], meter[req.ID] = out[i], req.Meter.PAN.String()
				case sm.CodeOf(err) == sm.CodeCreditLimit:
					if _, ok := tokens[req.ID]; ok {
						t.Errorf("%s, issued before: %v, not its token", req.ID, err)
					}
					if !replay {
						refused++
					}
				default:
					t.Errorf("%s: %v", req.ID, err)
				}
			}
		}
		for c := range clients {
			wg.Go(func() {
				out, errs := f.m.CreditBatch(f.ctx, operator, batches[c])
				check(c, out, errs, false)
			})
		}
		wg.Wait()
		for c := range clients {
			out, errs := f.m.CreditBatch(f.ctx, operator, batches[c])
			check(c, out, errs, true)
		}
		var reused sm.CreditRequest
		for _, req := range slices.Concat(batches...) {
			if _, ok := tokens[req.ID]; ok && req.Amount > 0 {
				reused = req
			}
		}
		reused.Amount++
		if _, errs := f.m.CreditBatch(f.ctx, operator, []sm.CreditRequest{reused}); !errors.Is(errs[0], sm.ErrRequestReused) {
			t.Errorf("an id reused for another request: %v", errs[0])
		}

		var sum uint64
		tids := map[string]bool{}
		for id, ans := range tokens {
			sum += ans.Amount
			key := fmt.Sprintf("%d/%s", ans.TID, meter[id])
			if tids[key] {
				t.Errorf("TID %s issued twice", key)
			}
			tids[key] = true
		}
		used := creditUsed(t, f.m)
		if sum > limit || sum != used || refused == 0 || limit-used >= 49 {
			t.Fatalf("tokens carry %d, the limit lost %d of %d, %d refused", sum, used, limit, refused)
		}
		wantAudited(t, f.m, used, len(tokens))
		t.Logf("%d tokens carrying %d of %d, %d refused (31)", len(tokens), sum, limit, refused)
	})
}

// creditUsed returns what the credit limit of the module's first register
// lost.
func creditUsed(t *testing.T, m *sm.Module) uint64 {
	t.Helper()
	regs, err := m.Registers(t.Context(), auditor)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(regs[0].CLMLoaded - regs[0].CLM)
}

// wantAudited fails t unless the module's audit log verifies and holds
// records token.credit records that carry used in all.
func wantAudited(t *testing.T, m *sm.Module, used uint64, records int) {
	t.Helper()
	audited, n := auditedCredit(t, m)
	if audited != used || n != records {
		t.Fatalf("audit: %d records carrying %d, want %d and %d", n, audited, records, used)
	}
	if _, err := m.VerifyAudit(t.Context(), auditor); err != nil {
		t.Fatal(err)
	}
}

// auditedCredit sums the credit of the token.credit records of the log.
func auditedCredit(t *testing.T, m *sm.Module) (sum uint64, records int) {
	t.Helper()
	log, err := m.Audit(auditor)
	if err != nil {
		t.Fatal(err)
	}
	err = log.Records(t.Context(), 1, func(r audit.Record) error {
		if r.Action == "token.credit" {
			var d struct{ Amount uint64 }
			if err := json.Unmarshal(r.Details.(json.RawMessage), &d); err != nil {
				return err
			}
			sum += d.Amount
			records++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum, records
}

// TestCreditAfterReload: a register reloaded with a new key after the
// module issued under the old one (and so holds it in its cache) gives
// tokens under the new key, which Verify, reading the register afresh,
// decodes; the old token no longer decodes. Close drops the cached key.
func TestCreditAfterReload(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
		f.load(k)
		mk := meterKey(t, 1, k)
		first := f.credit(sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 55})
		f.load(vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02))
		second := f.credit(sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 66})
		v, err := f.m.Verify(f.ctx, operator, sm.VerifyRequest{Meter: mk, Token: second.Tokens[0]})
		if err != nil {
			t.Fatalf("the token issued after the reload: %v", err)
		}
		if c, ok := v.Token.(sts.Credit); !ok || c.TID != second.TID || c.Amount.Value() != 66 {
			t.Fatalf("verified %+v", v)
		}
		_, err = f.m.Verify(f.ctx, operator, sm.VerifyRequest{Meter: mk, Token: first.Tokens[0]})
		wantCode(t, err, sm.CodeFormat, sm.ErrFormat)
		if n, zero := sm.CachedKeys(f.m); n != 1 || zero {
			t.Fatalf("%d keys cached (all zeros: %v), want the register's", n, zero)
		}
		f.m.Close()
		if n, _ := sm.CachedKeys(f.m); n != 0 {
			t.Fatalf("%d keys cached after Close", n)
		}
	})
}
