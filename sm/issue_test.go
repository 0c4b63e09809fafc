package sm_test

import (
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keyload"

	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// TestEndToEnd is the whole path without mail: a KMC made with keyload
// directly; slot install, request, Key Load File, load; a credit token the
// meter simulator accepts; the same request id answered with the same
// token; a key change set to the next KRN accepted by the meter; credit
// under the new key accepted; and the audit chain verifying over all of it.
// Both suites: DKGA02 + STA (test tables) and DKGA04 + MISTY1.
func TestEndToEnd(t *testing.T) {
	for _, alg := range []dkga.Algorithm{dkga.DKGA02, dkga.DKGA04} {
		t.Run("DKGA"+alg.String(), func(t *testing.T) {
			eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
				k1 := vk(123456, 1, sts.DUTK, sts.BaseDate2014, alg)
				k2 := vk(123456, 2, sts.DUTK, sts.BaseDate2014, alg)
				regs := f.load(k1, k2)
				if len(regs) != 2 {
					t.Fatalf("%d registers loaded", len(regs))
				}
				mk, mtr := f.meter(1, k1)

				req := sm.CreditRequest{ID: "vend-1", Meter: mk, Sub: sts.Electricity, Amount: 256}
				got := f.credit(req)
				if r := enter(mtr, got.Tokens); r.Outcome != meter.Accepted || mtr.Balance(sts.Electricity) != 256 {
					t.Fatalf("meter says %v, balance %d", r.Outcome, mtr.Balance(sts.Electricity))
				}
				again := f.credit(req)
				if !again.Replayed || !slices.Equal(again.Tokens, got.Tokens) || again.AuditSeq != got.AuditSeq {
					t.Fatalf("retried request: %+v, first answer %+v", again, got)
				}
				if r := enter(mtr, again.Tokens); r.Outcome != meter.UsedError {
					t.Fatalf("the same token again: meter says %v", r.Outcome)
				}

				kc, err := f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{ID: "kc-1", Meter: mk, To: regKey(k2), TI: 1})
				if err != nil {
					t.Fatal(err)
				}
				wantTokens := 2
				if alg == dkga.DKGA04 {
					wantTokens = 4
				}
				if len(kc.Tokens) != wantTokens || kc.Rollover {
					t.Fatalf("key change set: %d tokens, rollover %v", len(kc.Tokens), kc.Rollover)
				}
				if r := enter(mtr, kc.Tokens); r.Outcome != meter.KeyChanged || mtr.KeyInfo().KRN != 2 {
					t.Fatalf("key change: meter says %v, KRN %d", r.Outcome, mtr.KeyInfo().KRN)
				}
				mk2 := mk
				mk2.RegisterKey = regKey(k2)
				got2 := f.credit(sm.CreditRequest{ID: "vend-2", Meter: mk2, Sub: sts.Electricity, Amount: 100})
				if r := enter(mtr, got2.Tokens); r.Outcome != meter.Accepted || mtr.Balance(sts.Electricity) != 356 {
					t.Fatalf("credit under the new key: meter says %v", r.Outcome)
				}
				if got2.TID <= got.TID {
					t.Errorf("TID under the new key %d, not after the old key's %d", got2.TID, got.TID)
				}
				// A token under the old key no longer works on the meter.
				old := f.credit(sm.CreditRequest{ID: "vend-3", Meter: mk, Sub: sts.Electricity, Amount: 10})
				if r := enter(mtr, old.Tokens); r.Outcome != meter.CRCError {
					t.Errorf("old-key token: meter says %v", r.Outcome)
				}
				rep, err := f.m.VerifyAudit(f.ctx, auditor)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Records < 10 {
					t.Errorf("audit has %d records", rep.Records)
				}
			})
		})
	}
}

// TestTIDs: two vends for one meter and key in the same minute get
// increasing TIDs, the first the minutes since the base date; another
// meter, or the same meter under another key, has its own sequence; the
// next minute's clock wins over the sequence.
func TestTIDs(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		f.load(k)
		clockTID, err := sts.BaseDate2014.TID(t0)
		if err != nil {
			t.Fatal(err)
		}
		mk1, mk2 := meterKey(t, 1, k), meterKey(t, 2, k)
		mtr := newMeter(t, mk1, k, t0)
		var tids []uint32
		for _, mk := range []sm.MeterKey{mk1, mk1, mk1, mk2} {
			got := f.credit(sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 1})
			tids = append(tids, got.TID)
			if mk == mk1 {
				if r := enter(mtr, got.Tokens); r.Outcome != meter.Accepted {
					t.Fatalf("TID %d: meter says %v", got.TID, r.Outcome)
				}
			}
		}
		want := []uint32{clockTID, clockTID + 1, clockTID + 2, clockTID}
		if !slices.Equal(tids, want) {
			t.Fatalf("TIDs %v, want %v", tids, want)
		}
		f.clock.Add(10 * time.Minute)
		got, err := f.m.Manage(f.ctx, operator, sm.ManagementRequest{Meter: mk1, Sub: sts.TariffRate, Value: 3})
		if err != nil || got.TID != clockTID+10 {
			t.Fatalf("TID after 10 minutes: %d, %v", got.TID, err)
		}
	})
}

// TestTIDWindow: a meter's TIDs may run at most the window ahead of the
// clock (44).
func TestTIDWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, sm.Vending, func(o *sm.Options) { o.TIDWindow = 2 })
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		f.load(k)
		mk := meterKey(t, 1, k)
		for i := range 4 {
			_, err := f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 1})
			if i < 3 && err != nil {
				t.Fatal(err)
			}
			if i == 3 {
				wantCode(t, err, sm.CodeTIDWindow, sm.ErrTIDWindow)
			}
		}
	})
}

// TestKeyTimes: ACT ≤ now ≤ IUT (43, 42) and the TID's top 8 bits ≤ KEN
// (41), on credit, management, key change and verify.
func TestKeyTimes(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		k.ACT, k.IUT = t0.Add(time.Hour), t0.Add(48*time.Hour)
		expiring := vk(123456, 2, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		clockTID, _ := sts.BaseDate2014.TID(t0)
		expiring.KEN = int(clockTID>>16) - 1
		f.load(k, expiring)
		mk := meterKey(t, 1, k)
		credit := func(mk sm.MeterKey) error {
			_, err := f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 1})
			return err
		}
		wantCode(t, credit(mk), sm.CodeBeforeACT, sm.ErrBeforeACT)
		_, err := f.m.Manage(f.ctx, operator, sm.ManagementRequest{Meter: mk, Sub: sts.TariffRate, Value: 1})
		wantCode(t, err, sm.CodeBeforeACT, sm.ErrBeforeACT)
		_, err = f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: meterKey(t, 1, expiring), To: regKey(k), TI: 1})
		wantCode(t, err, sm.CodeBeforeACT, sm.ErrBeforeACT)
		f.clock.Set(k.ACT)
		if err := credit(mk); err != nil {
			t.Fatalf("at ACT: %v", err)
		}
		f.clock.Set(k.IUT)
		if err := credit(mk); err != nil {
			t.Fatalf("at IUT: %v", err)
		}
		f.clock.Set(k.IUT.Add(time.Second))
		wantCode(t, credit(mk), sm.CodeAfterIUT, sm.ErrAfterIUT)
		_, err = f.m.Verify(f.ctx, operator, sm.VerifyRequest{Meter: mk, Token: "12345678901234567890"})
		wantCode(t, err, sm.CodeAfterIUT, sm.ErrAfterIUT)

		f.clock.Set(t0)
		wantCode(t, credit(meterKey(t, 1, expiring)), sm.CodeKeyExpired, sm.ErrKeyExpired)
		// A missing register is 28.
		missing := mk
		missing.KRN = 7
		wantCode(t, credit(missing), sm.CodeNoRegister, sm.ErrNoRegister)
	})
}

// TestCreditLimit: the CLM is decremented by the amount each token
// carries (as encoded) and a token beyond it is refused (31); currency
// credit counts in 0.01 units, a debit costs nothing.
func TestCreditLimit(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := f.loadLimited(1000)
		mk := meterKey(t, 1, k)
		mtr := newMeter(t, mk, k, t0)
		got, err := f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Water, Amount: 600})
		if err != nil || got.CLM != 400 || got.Amount != 600 {
			t.Fatalf("first credit: %+v, %v", got, err)
		}
		_, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 401})
		wantCode(t, err, sm.CodeCreditLimit, sm.ErrCreditLimit)
		// 12.34567 currency units cost 1235 hundredths: too much; 3.99924
		// (exactly representable) cost 400.
		_, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.ElectricityCurrency, Currency: big.NewInt(1234567)})
		wantCode(t, err, sm.CodeCreditLimit, sm.ErrCreditLimit)
		got, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.ElectricityCurrency, Currency: big.NewInt(399924)})
		if err != nil || got.CLM != 0 || got.Currency != "3.99924" {
			t.Fatalf("currency credit: %+v, %v", got, err)
		}
		if r := enter(mtr, got.Tokens); r.Outcome != meter.Accepted || r.CurrencyBalance.Int64() != 399924 {
			t.Fatalf("currency token: meter says %v", r.Outcome)
		}
		got, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.ElectricityCurrency, Currency: big.NewInt(-100000)})
		if err != nil {
			t.Fatalf("debit: %v", err)
		}
		// −1 is encoded as −0.99994 (a debit rounds to the smaller magnitude).
		if r := enter(mtr, got.Tokens); r.Outcome != meter.Accepted || r.CurrencyBalance.Int64() != 399924-99994 {
			t.Fatalf("debit token: meter says %v", r.Outcome)
		}
		_, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 1})
		wantCode(t, err, sm.CodeCreditLimit, sm.ErrCreditLimit)
		regs, _ := f.m.Registers(f.ctx, auditor)
		if regs[0].CLM != 0 || regs[0].CLMLoaded != 1000 {
			t.Fatalf("register: %+v", regs[0])
		}
		// Out of range and wrong subclasses.
		_, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: sts.MaxAmount + 1})
		wantCode(t, err, sm.CodeRange, sm.ErrRange)
		_, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity})
		wantCode(t, err, sm.CodeRange, sm.ErrRange)
		_, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: 5, Amount: 1})
		wantCode(t, err, sm.CodeSubclass, sm.ErrSubclass)
	})
}

// TestIdempotency: a request id gets one answer: the same request again
// returns it (even after the module restarts, the register's limit
// exhausted or the clock moved), another request with that id is
// refused, and only one audit record exists.
func TestIdempotency(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		req, first := f.firstCredit(10, "pos-1/000042")
		mk := req.Meter
		f.clock.Add(time.Hour)
		f.reopen()
		again := f.credit(req)
		if !again.Replayed || !slices.Equal(first.Tokens, again.Tokens) || first.TID != again.TID || !first.Time.Equal(again.Time) {
			t.Fatalf("replay: %+v, first %+v", again, first)
		}
		other := req
		other.Amount = 5
		_, err := f.m.Credit(f.ctx, operator, other)
		wantCode(t, err, sm.CodeExtended, sm.ErrRequestReused)
		_, err = f.m.Manage(f.ctx, operator, sm.ManagementRequest{ID: req.ID, Meter: mk, Sub: sts.TariffRate})
		wantCode(t, err, sm.CodeExtended, sm.ErrRequestReused)
		_, err = f.m.Credit(f.ctx, operator, sm.CreditRequest{ID: "bad id", Meter: mk, Sub: sts.Electricity, Amount: 1})
		wantCode(t, err, sm.CodeExtended, sm.ErrInvalidRequest)
		log, _ := f.m.Audit(auditor)
		n := 0
		log.Records(f.ctx, 1, func(r audit.Record) error {
			if r.Action == "token.credit" {
				n++
			}
			return nil
		})
		if n != 1 {
			t.Fatalf("%d credit records in the audit log", n)
		}
	})
}

// TestRollover: a key change to a register of the next base date carries
// the rollover bit; the meter clears its TID memory and takes credit with
// TIDs of the new base date.
func TestRollover(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		at := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) // 1993 TIDs still run
		f.clock.Set(at)
		old := vk(123456, 1, sts.DUTK, sts.BaseDate1993, dkga.DKGA02)
		next := vk(123456, 2, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
		far := vk(123456, 3, sts.DUTK, sts.BaseDate2035, dkga.DKGA02)
		for _, k := range []*keyload.VendingKey{&old, &next, &far} {
			k.ACT = at.AddDate(-1, 0, 0)
		}
		f.load(old, next, far)
		mk := meterKey(t, 1, old)
		mtr := newMeter(t, mk, old, at)
		if r := f.creditMeter(mtr, mk, 10); r.Outcome != meter.Accepted {
			t.Fatalf("credit under 1993: meter says %v", r.Outcome)
		}
		_, err := f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: mk, To: regKey(far), TI: 1})
		wantCode(t, err, sm.CodeAttribute, sm.ErrAttribute) // 1993 → 2035 skips a base date
		three, err := f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: mk, To: regKey(next), TI: 1, ThreeTokens: true})
		if err != nil || len(three.Tokens) != 3 || !three.Rollover {
			t.Fatalf("three-token set: %+v, %v", three, err)
		}
		kc, err := f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: mk, To: regKey(next), TI: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !kc.Rollover || len(kc.Tokens) != 2 {
			t.Fatalf("rollover set: %+v", kc)
		}
		if r := enter(mtr, kc.Tokens); r.Outcome != meter.KeyChanged || mtr.KeyInfo().BaseDate != sts.BaseDate2014 || len(mtr.TIDs()) != 0 {
			t.Fatalf("meter after rollover: %v, %+v, TIDs %v", r.Outcome, mtr.KeyInfo(), mtr.TIDs())
		}
		mk2 := mk
		mk2.RegisterKey = regKey(next)
		got := f.credit(sm.CreditRequest{Meter: mk2, Sub: sts.Electricity, Amount: 10})
		if want, _ := sts.BaseDate2014.TID(at); got.TID != want {
			t.Errorf("TID after rollover %d, want %d", got.TID, want)
		}
		if r := enter(mtr, got.Tokens); r.Outcome != meter.Accepted {
			t.Fatalf("credit after rollover: meter says %v", r.Outcome)
		}
	})
}

// TestThreeTokenKeyChange: the module's 64-bit three-token set moves a
// meter to a register of another supply group; the meter takes the set,
// its SGC included, and then credit under the new key, not the old.
func TestThreeTokenKeyChange(t *testing.T) {
	old := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
	next := vk(654321, 2, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		f.load(old, next)
		mk, mtr := f.meter(1, old)
		kc, err := f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: mk, To: regKey(next), TI: 3, ThreeTokens: true})
		if err != nil || len(kc.Tokens) != 3 {
			t.Fatalf("three-token set: %+v, %v", kc, err)
		}
		for i, want := range []meter.Outcome{meter.FirstKCTEntered, meter.SecondKCTEntered, meter.KeyChanged} {
			if r := mtr.Enter(kc.Tokens[i]); r.Outcome != want {
				t.Fatalf("token %d of the set: meter says %v, want %v", i+1, r.Outcome, want)
			}
		}
		info := mtr.KeyInfo()
		if info.SGC != 654321 || info.KRN != 2 || info.TI != 3 || info.KeyType != sts.DUTK {
			t.Fatalf("meter key after the set: %+v", info)
		}
		moved := sm.MeterKey{PAN: mk.PAN, TI: 3, RegisterKey: regKey(next)}
		if r := f.creditMeter(mtr, moved, 10); r.Outcome != meter.Accepted || mtr.Balance(sts.Electricity) != 10 {
			t.Fatalf("credit under the new key: meter says %v, balance %d", r.Outcome, mtr.Balance(sts.Electricity))
		}
		if r := f.creditMeter(mtr, mk, 10); r.Outcome != meter.CRCError {
			t.Fatalf("credit under the old key: meter says %v, want CRC error", r.Outcome)
		}
	})
}

// TestVerify decodes tokens the module made, without the key bits of a
// key change token, and refuses digits that are not a token of the key.
func TestVerify(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		k2 := vk(123456, 2, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		f.load(k, k2)
		mk := meterKey(t, 1, k)
		got := f.credit(sm.CreditRequest{Meter: mk, Sub: sts.Gas, Amount: 77})
		v, err := f.m.Verify(f.ctx, operator, sm.VerifyRequest{Meter: mk, Token: got.Tokens[0]})
		if err != nil {
			t.Fatal(err)
		}
		c, ok := v.Token.(sts.Credit)
		if !ok || c.TID != got.TID || c.Amount.Value() != 77 || c.Sub != sts.Gas {
			t.Fatalf("verified %+v", v)
		}
		kc, err := f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: mk, To: regKey(k2), TI: 1})
		if err != nil {
			t.Fatal(err)
		}
		v, err = f.m.Verify(f.ctx, operator, sm.VerifyRequest{Meter: mk, Token: kc.Tokens[0]})
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := v.Token.(sts.KeyChange); !ok || s.KeyPart != 0 || s.KRN != 2 {
			t.Fatalf("key change section %+v", v.Token)
		}
		_, err = f.m.Verify(f.ctx, operator, sm.VerifyRequest{Meter: meterKey(t, 2, k), Token: got.Tokens[0]})
		wantCode(t, err, sm.CodeFormat, sm.ErrFormat)
		_, err = f.m.Verify(f.ctx, operator, sm.VerifyRequest{Meter: mk, Token: "1234"})
		wantCode(t, err, sm.CodeFormat, sm.ErrFormat)
	})
}
