package sm_test

import (
	"testing"

	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// The variant rules of STS 600-10-1 §4.1.3 (seed file, and the table of
// issue 5): one test per refusal, and the allowed cases accepted by a
// meter.
//
//	              credit tokens          key changes
//	manufacturing only under DITK        all of IEC 62055-41 §6.5
//	vending       only under DUTK, DCTK  all but DITK→DUTK, DITK→DDTK, DITK→DCTK
//	both          every management and test token

// TestManufacturingCreditUnderDITK: a manufacturing module issues credit
// under a DITK (derived from a type 0 initialization key), and a fresh
// meter holding that DITK accepts it.
func TestManufacturingCreditUnderDITK(t *testing.T) {
	eachFixture(t, sm.Manufacturing, func(t *testing.T, f *fixture) {
		init0 := vk(123456, 1, sts.DITK, sts.BaseDate2014, dkga.DKGA04)
		f.load(init0)
		mk, mtr := f.meter(7, init0)
		if r := f.creditMeter(mtr, mk, 10); r.Outcome != meter.Accepted {
			t.Fatalf("fresh meter under DITK says %v", r.Outcome)
		}
	})
}

// TestManufacturingKeyChangeFromDITK: a manufacturing module moves a meter
// from its DITK to a DUTK, DDTK and DCTK (the key changes a vending module
// may not make); the meter accepts each set.
func TestManufacturingKeyChangeFromDITK(t *testing.T) {
	eachFixture(t, sm.Manufacturing, func(t *testing.T, f *fixture) {
		init0 := vk(123456, 1, sts.DITK, sts.BaseDate2014, dkga.DKGA02)
		targets := []keyload.VendingKey{
			vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02),
			vk(123456, 1, sts.DDTK, sts.BaseDate2014, dkga.DKGA02),
			vk(123456, 1, sts.DCTK, sts.BaseDate2014, dkga.DKGA02),
		}
		f.load(append([]keyload.VendingKey{init0}, targets...)...)
		for i, to := range targets {
			mk, mtr := f.meter(10+i, init0)
			kc, err := f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: mk, To: regKey(to), TI: 1})
			if err != nil {
				t.Fatalf("DITK → %v: %v", sts.KeyType(to.KT), err)
			}
			if r := enter(mtr, kc.Tokens); r.Outcome != meter.KeyChanged || mtr.KeyInfo().KeyType != sts.KeyType(to.KT) {
				t.Fatalf("DITK → %v: meter says %v", sts.KeyType(to.KT), r.Outcome)
			}
		}
	})
}

// TestManufacturingRefusesCreditUnderDUTK and DCTK.
func TestManufacturingRefusesCreditUnderDUTK(t *testing.T) {
	eachFixture(t, sm.Manufacturing, func(t *testing.T, f *fixture) {
		for _, kt := range []sts.KeyType{sts.DUTK, sts.DCTK} {
			k := vk(123456, 1, kt, sts.BaseDate2014, dkga.DKGA02)
			f.load(k)
			_, err := f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: meterKey(t, 1, k), Sub: sts.Electricity, Amount: 10})
			wantCode(t, err, sm.CodeKeyType, sm.ErrVariant)
			// Verifying (decrypting) a credit token is refused too.
			_, err = f.m.Verify(f.ctx, operator, sm.VerifyRequest{Meter: meterKey(t, 1, k), Token: "00000000000000000000"})
			wantCode(t, err, sm.CodeKeyType, sm.ErrVariant)
		}
	})
}

// TestVendingRefusesDITKCredit: a vending module refuses credit under a
// DITK, before looking for a register.
func TestVendingRefusesDITKCredit(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		mk := meterKey(t, 1, vk(123456, 1, sts.DITK, sts.BaseDate2014, dkga.DKGA02))
		_, err := f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 10})
		wantCode(t, err, sm.CodeKeyType, sm.ErrVariant)
	})
}

// TestVendingRefusesKeyChangeFromDITK: no DITK→DUTK, DITK→DDTK,
// DITK→DCTK in a vending module.
func TestVendingRefusesKeyChangeFromDITK(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		to := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
		f.load(to)
		mk := meterKey(t, 1, vk(123456, 1, sts.DITK, sts.BaseDate2014, dkga.DKGA02))
		for _, kt := range []sts.KeyType{sts.DUTK, sts.DDTK, sts.DCTK} {
			target := regKey(to)
			target.KT = kt
			_, err := f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: mk, To: target, TI: 1})
			wantCode(t, err, sm.CodeKeyType, sm.ErrVariant)
		}
	})
}

// TestVendingRefusesInitializationKeys: a Key Load File with a type 0 key
// is refused whole by a vending module (94), and nothing is loaded.
func TestVendingRefusesInitializationKeys(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		f.install()
		klf := f.request(vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02), vk(123456, 1, sts.DITK, sts.BaseDate2014, dkga.DKGA02))
		_, err := f.m.LoadKLF(f.ctx, officer, f.slot, klf)
		wantCode(t, err, sm.CodeAttribute, sm.ErrAttribute)
		if regs, _ := f.m.Registers(f.ctx, operator); len(regs) != 0 {
			t.Fatalf("%d registers after a refused file", len(regs))
		}
	})
}

// TestNoCreditUnderDDTK: neither variant makes credit under a DDTK (05),
// though both make management tokens under it.
func TestNoCreditUnderDDTK(t *testing.T) {
	for _, v := range []sm.Variant{sm.Vending, sm.Manufacturing} {
		t.Run(v.String(), func(t *testing.T) {
			eachFixture(t, v, func(t *testing.T, f *fixture) {
				k := vk(123456, 1, sts.DDTK, sts.BaseDate2014, dkga.DKGA02)
				f.load(k)
				mk := meterKey(t, 1, k)
				_, err := f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 10})
				wantCode(t, err, sm.CodeKeyType, sm.ErrKeyType)
				mtr := newMeter(t, mk, k, f.clock.Now())
				got, err := f.m.Manage(f.ctx, operator, sm.ManagementRequest{Meter: mk, Sub: sts.MaximumPowerLimit, Value: 5000})
				if err != nil {
					t.Fatal(err)
				}
				if r := enter(mtr, got.Tokens); r.Outcome != meter.Accepted {
					t.Fatalf("management under DDTK: meter says %v", r.Outcome)
				}
			})
		})
	}
}

// TestBothVariantsManagementAndTest: every management subclass and both
// test subclasses in both variants, accepted by the meter.
func TestBothVariantsManagementAndTest(t *testing.T) {
	for _, v := range []sm.Variant{sm.Vending, sm.Manufacturing} {
		t.Run(v.String(), func(t *testing.T) {
			eachFixture(t, v, func(t *testing.T, f *fixture) {
				kt := sts.DUTK
				if v == sm.Manufacturing {
					kt = sts.DITK
				}
				k := vk(123456, 1, kt, sts.BaseDate2014, dkga.DKGA04)
				f.load(k)
				mk, mtr := f.meter(3, k)
				mtr.Tamper()
				for _, c := range []struct {
					sub   sts.Subclass
					value uint64
				}{
					{sts.MaximumPowerLimit, 5000}, {sts.ClearCredit, 0xFFFF}, {sts.TariffRate, 1234},
					{sts.ClearTamper, 0}, {sts.MaximumPhasePowerUnbalanceLimit, 300}, {sts.WaterMeterFactor, 10},
				} {
					got, err := f.m.Manage(f.ctx, operator, sm.ManagementRequest{Meter: mk, Sub: c.sub, Value: c.value})
					if err != nil {
						t.Fatalf("subclass %d: %v", c.sub, err)
					}
					if r := enter(mtr, got.Tokens); r.Outcome != meter.Accepted {
						t.Fatalf("subclass %d: meter says %v", c.sub, r.Outcome)
					}
				}
				if mtr.MaximumPowerLimit() != 5000 || mtr.TariffRate() != 1234 || mtr.Tampered() || mtr.WaterMeterFactor() != 10 {
					t.Errorf("meter settings: power %d, rate %d, tamper %v, factor %d",
						mtr.MaximumPowerLimit(), mtr.TariffRate(), mtr.Tampered(), mtr.WaterMeterFactor())
				}
				for _, c := range []sm.TestRequest{
					{Sub: sts.TestDisplay1, MfrCode: 4, Control: 1},
					{Sub: sts.TestDisplay2, MfrCode: 4, Control: 3},
				} {
					got, err := f.m.Test(f.ctx, operator, c)
					if err != nil {
						t.Fatal(err)
					}
					if r := enter(mtr, got.Tokens); r.Outcome != meter.Accepted {
						t.Fatalf("test token %+v: meter says %v", c, r.Outcome)
					}
				}
				// Key change tokens are not management tokens.
				_, err := f.m.Manage(f.ctx, operator, sm.ManagementRequest{Meter: mk, Sub: sts.DecoderKey1})
				wantCode(t, err, sm.CodeSubclass, sm.ErrSubclass)
			})
		})
	}
}
