package sm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// TestRoles: each operation is open to its roles only (docs/sm.md, the
// role table); every other role is refused with ErrRole before anything
// happens.
func TestRoles(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
		f.load(k)
		mk := meterKey(t, 1, k)
		ctx := context.Background()
		ops := []struct {
			name  string
			roles []sm.Role
			call  func(a sm.Actor) error
		}{
			{"install", []sm.Role{sm.Officer}, func(a sm.Actor) error {
				_, err := f.m.InstallSlot(ctx, a, sm.InstallRequest{Record: f.kmc.record, Fingerprint: f.kmc.fp, TestKMC: true, Slot: 3})
				return err
			}},
			{"request", []sm.Role{sm.Officer}, func(a sm.Actor) error { _, err := f.m.Request(ctx, a, f.slot); return err }},
			{"load", []sm.Role{sm.Officer}, func(a sm.Actor) error { _, err := f.m.LoadKLF(ctx, a, f.slot, nil); return err }},
			{"delete", []sm.Role{sm.Officer}, func(a sm.Actor) error { return f.m.DeleteSlot(ctx, a, 9) }},
			{"slots", []sm.Role{sm.Officer, sm.Auditor}, func(a sm.Actor) error { _, err := f.m.Slots(ctx, a); return err }},
			{"registers", []sm.Role{sm.Officer, sm.Operator, sm.Auditor}, func(a sm.Actor) error { _, err := f.m.Registers(ctx, a); return err }},
			{"issued tokens", []sm.Role{sm.Officer, sm.Operator, sm.Auditor}, func(a sm.Actor) error {
				_, _, err := f.m.Issues(ctx, a, sm.IssueFilter{}, 0, 1)
				return err
			}},
			{"credit", []sm.Role{sm.Operator}, func(a sm.Actor) error {
				_, err := f.m.Credit(ctx, a, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 1})
				return err
			}},
			{"manage", []sm.Role{sm.Operator}, func(a sm.Actor) error {
				_, err := f.m.Manage(ctx, a, sm.ManagementRequest{Meter: mk, Sub: sts.TariffRate})
				return err
			}},
			{"keychange", []sm.Role{sm.Operator}, func(a sm.Actor) error {
				_, err := f.m.KeyChange(ctx, a, sm.KeyChangeRequest{Meter: mk, To: mk.RegisterKey, TI: 1})
				return err
			}},
			{"test", []sm.Role{sm.Operator}, func(a sm.Actor) error {
				_, err := f.m.Test(ctx, a, sm.TestRequest{Sub: sts.TestDisplay1})
				return err
			}},
			{"verify", []sm.Role{sm.Operator}, func(a sm.Actor) error {
				_, err := f.m.Verify(ctx, a, sm.VerifyRequest{Meter: mk, Token: "00000000000000000000"})
				return err
			}},
			{"audit verify", []sm.Role{sm.Officer, sm.Auditor}, func(a sm.Actor) error { _, err := f.m.VerifyAudit(ctx, a); return err }},
			{"self-test", []sm.Role{sm.Officer, sm.Operator, sm.Auditor}, func(a sm.Actor) error { _, err := f.m.Selftest(ctx, a); return err }},
		}
		for _, op := range ops {
			for _, r := range []sm.Role{sm.Officer, sm.Operator, sm.Auditor, 0} {
				err := op.call(r.As("someone"))
				allowed := false
				for _, ok := range op.roles {
					allowed = allowed || ok == r
				}
				if refused := errors.Is(err, sm.ErrRole); refused == allowed {
					t.Errorf("%s as %v: %v", op.name, r, err)
				}
			}
		}
	})
}
