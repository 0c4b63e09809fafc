package sm_test

import (
	"errors"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// TestLookupAndCounter: one register's attributes, and the transaction
// counter, which counts a replayed request once and survives a reopen.
func TestLookupAndCounter(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		f.load(k)
		mk := meterKey(t, 1, k)
		r, err := f.m.LookupRegister(f.ctx, auditor, mk.RegisterKey)
		if err != nil || r.RegisterKey != mk.RegisterKey || r.EA != sts.EA11 || r.KCV == "" {
			t.Fatalf("LookupRegister = %+v, %v", r, err)
		}
		if _, err := f.m.LookupRegister(f.ctx, auditor, sm.RegisterKey{SGC: 1, KRN: 1, KT: sts.DUTK}); !errors.Is(err, sm.ErrNoRegister) {
			t.Fatalf("LookupRegister of no register = %v", err)
		}
		for _, id := range []string{"a", "a", "b"} {
			f.credit(sm.CreditRequest{ID: id, Meter: mk, Sub: sts.Electricity, Amount: 10})
		}
		f.reopen()
		if n, err := f.m.TransactionCount(f.ctx, operator); err != nil || n != 2 {
			t.Fatalf("TransactionCount = %d, %v, want 2", n, err)
		}
	})
}

func TestDualControl(t *testing.T) {
	bob := sm.Officer.As("bob")
	if a, err := sm.DualControl(officer, bob); err != nil || a.String() != "officer:alice+bob" {
		t.Fatalf("DualControl = %v, %v", a, err)
	}
	for _, c := range [][2]sm.Actor{{officer, officer}, {officer, operator}, {operator, bob}, {officer, {}}} {
		if _, err := sm.DualControl(c[0], c[1]); !errors.Is(err, sm.ErrRole) {
			t.Errorf("DualControl(%v, %v) = %v", c[0], c[1], err)
		}
	}
}
