package kmc_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestRegisterSM(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		s := newSM(t, "sts-test-sm", "94000001")
		good := s.record(kmc.Vending, true, false)
		good.Emails = []string{"Ops <ops@utility.example>", "OPS@utility.example", " keys@utility.example "}
		for _, tc := range []struct {
			name   string
			change func(r *kmc.SM)
			want   error
		}{
			{"key hash names another key", func(r *kmc.SM) { r.PublicKey = newSM(t, "x", "1").mod.Key.PublicKey() }, kmc.ErrInvalid},
			{"a KMCID", func(r *kmc.SM) { r.SMID.Type = records.KMCID }, kmc.ErrInvalid},
			{"model not an IDENT", func(r *kmc.SM) { r.Model = "Test SSM" }, kmc.ErrInvalid},
			{"firmware of 7", func(r *kmc.SM) { r.Firmware = "SSM1V10" }, kmc.ErrInvalid},
			{"no variant", func(r *kmc.SM) { r.Variant = "" }, kmc.ErrInvalid},
			{"virtual and certified", func(r *kmc.SM) { r.Certified = true }, kmc.ErrInvalid},
			{"stskms's software module as hardware", func(r *kmc.SM) { r.Model, r.Virtual = "stskms-SoftSM", false }, kmc.ErrInvalid},
			{"bad address", func(r *kmc.SM) { r.Emails = []string{"not an address"} }, kmc.ErrInvalid},
		} {
			r := good
			tc.change(&r)
			if _, err := w.k.RegisterSM(w.ctx, actor, r); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		got, err := w.k.RegisterSM(w.ctx, actor, good)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Emails, []string{"ops@utility.example", "keys@utility.example"}) {
			t.Errorf("emails %q", got.Emails)
		}
		if _, err := w.k.RegisterSM(w.ctx, actor, good); !errors.Is(err, kmc.ErrExists) {
			t.Errorf("registered twice: %v", err)
		}
		for _, ref := range []string{s.smid(), "TestVendor:94000001", "94000001"} {
			found, err := w.k.FindSM(w.ctx, ref)
			if err != nil || found.SMID.String() != s.smid() || !found.Virtual || found.Variant != kmc.Vending ||
				found.Model != "Test-SSM-1" || !found.PublicKey.Equal(s.mod.Key.PublicKey()) {
				t.Errorf("FindSM(%q) = %+v, %v", ref, found, err)
			}
		}
		// Another key of the same module (re-initialised): a second SMID
		// with the same id.
		s2 := newSM(t, "kmc-test-reinit", "94000001")
		s2.mod.PKID.Time = s2.mod.PKID.Time.Add(time.Hour)
		if _, err := w.k.RegisterSM(w.ctx, actor, s2.record(kmc.Vending, true, false)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.k.FindSM(w.ctx, "94000001"); !errors.Is(err, kmc.ErrInvalid) {
			t.Errorf("ambiguous id: %v", err)
		}
		if _, err := w.k.FindSM(w.ctx, "94000002"); !errors.Is(err, kmc.ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
		if _, err := w.k.RevokeSM(w.ctx, actor, s.smid(), "lost"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.k.RevokeSM(w.ctx, actor, s.smid(), "lost"); !errors.Is(err, kmc.ErrRevoked) {
			t.Errorf("revoked twice: %v", err)
		}
		list, err := w.k.SMs(w.ctx)
		if err != nil || len(list) != 2 || !list[0].Revoked || list[0].RevokeReason != "lost" || list[1].Revoked {
			t.Fatalf("SMs: %+v %v", list, err)
		}
		w.wantAudit("sm.register", 2)
		w.wantAudit("sm.revoke", 1)
	})
}

// TestRegisterLive: a live KMC registers no virtual module.
func TestRegisterLive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeLive)
		s := newSM(t, "sts-test-sm", "94000001")
		if _, err := w.k.RegisterSM(w.ctx, actor, s.record(kmc.Vending, true, false)); !errors.Is(err, kmc.ErrMode) {
			t.Fatalf("virtual module on a live KMC: %v", err)
		}
		if _, err := w.k.RegisterSM(w.ctx, actor, s.record(kmc.Vending, false, true)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRegisterFromRequest: the module's own request registers it, if its
// tag verifies under one of this KMC's keys.
func TestRegisterFromRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		s := newSM(t, "sts-test-sm", "94000001")
		req := s.request(t, w.pk(), t0.Add(-48*time.Hour)) // old: freshness does not matter
		reg := kmc.Registration{Variant: kmc.Manufacturing, Virtual: true, Emails: []string{"f@factory.example"}}
		bad := *req
		bad.Tag = append([]byte(nil), req.Tag...)
		bad.Tag[3] ^= 4
		if _, err := w.k.RegisterSMFromRequest(w.ctx, actor, &bad, reg); !errors.Is(err, kmc.ErrInvalid) {
			t.Fatalf("bad tag: %v", err)
		}
		got, err := w.k.RegisterSMFromRequest(w.ctx, actor, req, reg)
		if err != nil {
			t.Fatal(err)
		}
		if got.SMID.String() != s.smid() || got.Model != s.model || got.Firmware != s.firmware || got.Variant != kmc.Manufacturing {
			t.Fatalf("registered %+v", got)
		}
		// The request is not used up: the module may send it for its file.
		w.clock.Set(req.Time)
		w.addSGC(1)
		w.genKey(attrs(1, kmc.KeyInit))
		w.grant(s, 1, kmc.KeyInit)
		if _, err := w.k.IssueKLF(w.ctx, "gateway", req); err != nil {
			t.Fatal(err)
		}
	})
}

func TestKUA(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		w.addSGC(1, 2)
		v, m := newSM(t, "sts-test-sm", "94000001"), newSM(t, "kmc-test-m", "95000001")
		w.register(v, kmc.Vending)
		w.register(m, kmc.Manufacturing)
		until := t0.AddDate(1, 0, 0)
		for _, tc := range []struct {
			name string
			ref  string
			a    kmc.KUA
			want error
		}{
			{"initialization keys to a vending module", v.smid(), kmc.KUA{SGC: 1, Types: kmc.TypesOf(kmc.KeyInit, kmc.VUDK), Until: until}, kmc.ErrVariant},
			{"unknown supply group", v.smid(), kmc.KUA{SGC: 3, Types: kmc.TypesOf(kmc.VUDK), Until: until}, kmc.ErrNotFound},
			{"unknown module", "99999999", kmc.KUA{SGC: 1, Types: kmc.TypesOf(kmc.VUDK), Until: until}, kmc.ErrNotFound},
			{"no types", v.smid(), kmc.KUA{SGC: 1, Until: until}, kmc.ErrInvalid},
			{"until before from", v.smid(), kmc.KUA{SGC: 1, Types: kmc.TypesOf(kmc.VUDK), Until: t0.Add(-time.Hour)}, kmc.ErrInvalid},
		} {
			if _, err := w.k.Grant(w.ctx, actor, tc.ref, tc.a); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		a := w.grant(v, 1, kmc.VUDK, kmc.VCDK)
		if a.ID == 0 || a.SMID != v.smid() || !a.From.Equal(t0) || a.Types.String() != "VUDK,VCDK" || !a.Valid(t0) {
			t.Fatalf("granted %+v", a)
		}
		// The same grant again, or one the first is in force for, is
		// refused and names it; a renewal from its end, or another type,
		// is a second authorisation.
		for _, types := range []kmc.KeyTypes{kmc.TypesOf(kmc.VUDK, kmc.VCDK), kmc.TypesOf(kmc.VCDK)} {
			_, err := w.k.Grant(w.ctx, actor, v.smid(), kmc.KUA{SGC: 1, Types: types, Until: until})
			if !errors.Is(err, kmc.ErrExists) || !strings.Contains(err.Error(), fmt.Sprintf("authorisation %d covers", a.ID)) {
				t.Errorf("grant %s again: %v", types, err)
			}
		}
		if _, err := w.k.Grant(w.ctx, actor, v.smid(), kmc.KUA{SGC: 1, Types: kmc.TypesOf(kmc.VUDK), Until: until.Add(time.Hour)}); !errors.Is(err, kmc.ErrExists) {
			t.Errorf("grant for longer while in force: %v", err)
		}
		if _, err := w.k.Grant(w.ctx, actor, v.smid(), kmc.KUA{SGC: 1, Types: kmc.TypesOf(kmc.VUDK), From: until, Until: until.AddDate(1, 0, 0)}); err != nil {
			t.Errorf("renewal from the end: %v", err)
		}
		w.grant(m, 2, kmc.KeyInit)
		if list, err := w.k.KUAs(w.ctx, ""); err != nil || len(list) != 3 {
			t.Fatalf("KUAs: %v %v", list, err)
		}
		if _, err := w.k.RevokeKUA(w.ctx, actor, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.k.RevokeKUA(w.ctx, actor, a.ID); !errors.Is(err, kmc.ErrRevoked) {
			t.Errorf("revoked twice: %v", err)
		}
		if _, err := w.k.RevokeKUA(w.ctx, actor, 999); !errors.Is(err, kmc.ErrNotFound) {
			t.Errorf("unknown KUA: %v", err)
		}
		list, err := w.k.KUAs(w.ctx, v.smid())
		if err != nil || len(list) != 2 || list[0].RevokedAt.IsZero() || list[0].Valid(t0) {
			t.Fatalf("KUAs of the vending module: %+v %v", list, err)
		}
		if _, err := w.k.RevokeSM(w.ctx, actor, m.smid(), "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.k.Grant(w.ctx, actor, m.smid(), kmc.KUA{SGC: 1, Types: kmc.TypesOf(kmc.VUDK), Until: until}); !errors.Is(err, kmc.ErrRevoked) {
			t.Errorf("grant to a revoked module: %v", err)
		}
		w.wantAudit("kua.grant", 3)
		w.wantAudit("kua.revoke", 1)
	})
}

// TestKeyRotation: a new KMC key becomes current; requests made for the old
// one are answered until it expires; the published key is the new one.
func TestKeyRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, s := newVendingWorld(t, db)
		oldPK := w.pk()
		w.clock.Add(time.Hour)
		newKey, err := w.k.RotateKey(w.ctx, actor, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cur, err := w.k.CurrentKey(w.ctx)
		if err != nil || cur.Seq != 2 || cur.Body != newKey.Body || cur.KMCID.String() == oldPK.KMCID.String() {
			t.Fatalf("current key %+v %v", cur.KMCID, err)
		}
		if !newKey.Expiry().Equal(t0.Add(25 * time.Hour)) {
			t.Errorf("new key expires %v", newKey.Expiry())
		}
		for i, pk := range []*records.PKECDH{oldPK, w.pk()} {
			if len(w.fetchKeys(s, pk, w.clock.Now().Add(time.Duration(i)*time.Second))) != 1 {
				t.Fatalf("request for key %d: no key", i+1)
			}
		}
		keys, err := w.k.Keys(w.ctx)
		if err != nil || len(keys) != 2 {
			t.Fatalf("%d keys, %v", len(keys), err)
		}
		// Past the new key's expiry, the old one (3 years) is current again
		// — and past both, there is none.
		w.clock.Set(t0.Add(26 * time.Hour))
		if cur, _ := w.k.CurrentKey(w.ctx); cur.Seq != 1 {
			t.Errorf("current key %d after the newer one expired", cur.Seq)
		}
		w.clock.Set(oldPK.Expiry)
		if _, err := w.k.CurrentKey(w.ctx); !errors.Is(err, kmc.ErrNoCurrentKey) {
			t.Errorf("no current key: %v", err)
		}
		w.wantAudit("kmc.key.generate", 2)
	})
}
