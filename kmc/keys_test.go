package kmc_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestSupplyGroups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		w.addSGC(123456, 7)
		if _, err := w.k.AddSupplyGroup(w.ctx, actor, 123456, "again"); !errors.Is(err, kmc.ErrExists) {
			t.Errorf("duplicate SGC: %v", err)
		}
		for _, sgc := range []int{-1, 1000000} {
			if _, err := w.k.AddSupplyGroup(w.ctx, actor, sgc, ""); !errors.Is(err, kmc.ErrInvalid) {
				t.Errorf("SGC %d: %v", sgc, err)
			}
		}
		if _, err := w.k.AddSupplyGroup(w.ctx, actor, 5, "bad\nname"); !errors.Is(err, kmc.ErrInvalid) {
			t.Errorf("control character in name: %v", err)
		}
		sgs, err := w.k.SupplyGroups(w.ctx)
		if err != nil || len(sgs) != 2 || sgs[0].SGC != 7 || sgs[1].SGC != 123456 || sgs[1].CreatedBy != actor {
			t.Fatalf("%+v %v", sgs, err)
		}
		w.wantAudit("sgc.add", 2)
	})
}

// TestVendingKeyAttributes: what GenerateVendingKey refuses.
func TestVendingKeyAttributes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		w.addSGC(1)
		for _, tc := range []struct {
			name   string
			change func(a *kmc.VKAttributes)
			want   error
		}{
			{"unknown supply group", func(a *kmc.VKAttributes) { a.SGC = 2 }, kmc.ErrNotFound},
			{"SGC of 7 digits", func(a *kmc.VKAttributes) { a.SGC = 1000000 }, kmc.ErrInvalid},
			{"KRN 10", func(a *kmc.VKAttributes) { a.KRN = 10 }, kmc.ErrInvalid},
			{"key type 4", func(a *kmc.VKAttributes) { a.Type = 4 }, kmc.ErrInvalid},
			{"base date 2000", func(a *kmc.VKAttributes) { a.BDT = 2000 }, kmc.ErrInvalid},
			{"DKGA01", func(a *kmc.VKAttributes) { a.DKGA = 1 }, kmc.ErrInvalid},
			{"DKGA03", func(a *kmc.VKAttributes) { a.DKGA = 3 }, kmc.ErrInvalid},
			{"EA08", func(a *kmc.VKAttributes) { a.EA = 8 }, kmc.ErrInvalid},
			{"DKGA02 with EA11", func(a *kmc.VKAttributes) { a.DKGA = 2 }, kmc.ErrInvalid},
			{"KEN 256", func(a *kmc.VKAttributes) { a.KEN = 256 }, kmc.ErrInvalid},
			{"no ACT", func(a *kmc.VKAttributes) { a.ACT = time.Time{} }, kmc.ErrInvalid},
			{"EXP before ACT", func(a *kmc.VKAttributes) { a.EXP = a.ACT.Add(-time.Second) }, kmc.ErrInvalid},
			{"EXP after IUT", func(a *kmc.VKAttributes) { a.EXP = a.IUT.Add(time.Second) }, kmc.ErrInvalid},
		} {
			a := attrs(1, kmc.VUDK)
			tc.change(&a)
			if _, err := w.k.GenerateVendingKey(w.ctx, actor, a); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if keys, _ := w.k.VendingKeys(w.ctx); len(keys) != 0 {
			t.Errorf("%d keys after refusals only", len(keys))
		}
	})
}

// TestKRNCycle: KRNs go 1…9 and back to 1 per supply group and type; a KRN
// still held by an issuable key is refused, and its holder retired once
// past its EXP.
func TestKRNCycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		w.addSGC(1)
		var first kmc.VendingKey
		for krn := 1; krn <= 9; krn++ {
			a := attrs(1, kmc.VUDK)
			a.EXP = t0.Add(time.Duration(krn) * time.Hour)
			v := w.genKey(a)
			if v.KRN != krn || v.State != kmc.StateActive || v.Origin != kmc.OriginGenerated || len(v.KCV) != 6 {
				t.Fatalf("key %d: %+v", krn, v)
			}
			if krn == 1 {
				first = v
			}
		}
		if v := w.genKey(attrs(1, kmc.VCDK)); v.KRN != 1 {
			t.Errorf("first VCDK has KRN %d", v.KRN)
		}
		// KRN 1 again: its holder may still be issued for an hour.
		if _, err := w.k.GenerateVendingKey(w.ctx, actor, attrs(1, kmc.VUDK)); !errors.Is(err, kmc.ErrExists) {
			t.Fatalf("KRN held: %v", err)
		}
		w.clock.Add(90 * time.Minute)
		v := w.genKey(attrs(1, kmc.VUDK))
		if v.KRN != 1 {
			t.Fatalf("after 9 comes KRN %d", v.KRN)
		}
		keys, err := w.k.VendingKeys(w.ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, k := range keys {
			states[k.ID] = k.State
		}
		if states[first.ID] != kmc.StateRetired || states[v.ID] != kmc.StateActive || len(keys) != 11 {
			t.Fatalf("states %v", states)
		}
		// An explicit KRN.
		a := attrs(1, kmc.VUDK)
		a.KRN = 5
		if _, err := w.k.GenerateVendingKey(w.ctx, actor, a); !errors.Is(err, kmc.ErrExists) {
			t.Fatalf("explicit KRN held: %v", err)
		}
		w.wantAudit("vk.retire", 1)
		w.wantAudit("vk.generate", 11)
	})
}

// component returns a key component with its KCV.
func component(t *testing.T, officer string, value []byte) kmc.KeyComponent {
	t.Helper()
	kcv, err := keyagree.KCV(value)
	if err != nil {
		t.Fatal(err)
	}
	return kmc.KeyComponent{Officer: officer, Value: value, KCV: kcv}
}

// TestImportVendingKey: dual control, each component's KCV, the combined
// key's KCV; the imported key is what a module then receives.
func TestImportVendingKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		w.addSGC(123456)
		a := attrs(123456, kmc.VUDK)
		a.DKGA, a.EA = 2, 7
		key := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF} // KCV D5D44F (kms-records.md §3.5)
		c1 := []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}
		c2 := make([]byte, 8)
		for i := range c2 {
			c2[i] = key[i] ^ c1[i]
		}
		alice, bob := component(t, "alice", c1), component(t, "bob", c2)
		wrongKCV := bob
		wrongKCV.KCV = []byte{0, 0, 0}
		zero := component(t, "carol", c1)
		for _, tc := range []struct {
			name  string
			comps []kmc.KeyComponent
			kcv   []byte
			want  error
		}{
			{"one component", []kmc.KeyComponent{alice}, nil, kmc.ErrDualControl},
			{"one officer twice", []kmc.KeyComponent{alice, component(t, "ALICE", c2)}, nil, kmc.ErrDualControl},
			{"no officer", []kmc.KeyComponent{alice, component(t, " ", c2)}, nil, kmc.ErrDualControl},
			{"component KCV wrong", []kmc.KeyComponent{alice, wrongKCV}, nil, kmc.ErrKCV},
			{"combined KCV wrong", []kmc.KeyComponent{alice, bob}, []byte{1, 2, 3}, kmc.ErrKCV},
			{"components cancel out", []kmc.KeyComponent{alice, zero}, nil, kmc.ErrInvalid},
			{"component of the wrong length", []kmc.KeyComponent{alice, component(t, "bob", make([]byte, 20))}, nil, kmc.ErrInvalid},
		} {
			if _, err := w.k.ImportVendingKey(w.ctx, actor, a, tc.comps, tc.kcv); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		v, err := w.k.ImportVendingKey(w.ctx, actor, a, []kmc.KeyComponent{alice, bob}, []byte{0xD5, 0xD4, 0x4F})
		if err != nil {
			t.Fatal(err)
		}
		if v.KCV != "D5D44F" || v.Origin != kmc.OriginImported || v.KRN != 1 {
			t.Fatalf("imported %+v", v)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%X", "%s"} {
			if out := strings.ToUpper(fmt.Sprintf(verb, alice)); strings.Contains(out, "1122334455667788") ||
				strings.Contains(out, "11 22 33") || strings.Contains(out, "[17 34 51") {
				t.Errorf("%s prints the component's value: %s", verb, out)
			}
		}

		// The module gets exactly that key.
		s := newSM(t, "sts-test-sm", "94000001")
		w.register(s, kmc.Vending)
		w.grant(s, 123456, kmc.VUDK)
		keys := w.fetchKeys(s, w.pk(), t0)
		if len(keys) != 1 || !bytes.Equal(keys[0].Key, key) {
			t.Fatal("the module did not get the imported key")
		}
		w.wantAudit("vk.import", 1)
		assertAudit(t, w, "vk.import", "D5D44F", keys)
	})
}

// TestNoClearKeyInDatabase: the SQLite file holds the imported key only
// sealed.
func TestNoClearKeyInDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "kmc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := newWorld(t, db, kmc.ModeTest)
	w.addSGC(1)
	a := attrs(1, kmc.VUDK)
	key := []byte("twenty byte vk 12345")
	c1 := bytes.Repeat([]byte{0x5A}, 20)
	c2 := make([]byte, 20)
	for i := range c2 {
		c2[i] = key[i] ^ c1[i]
	}
	if _, err := w.k.ImportVendingKey(w.ctx, actor, a, []kmc.KeyComponent{component(t, "a", c1), component(t, "b", c2)}, nil); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, key) || bytes.Contains(bytes.ToUpper(data), []byte(hexU(key))) {
			t.Errorf("%s holds the vending key in clear", e.Name())
		}
	}
}

// TestSealedKeyBinding: a sealed key moved to another key's row does not
// open, and the file is not issued (EInternal) rather than carrying the
// wrong key.
func TestSealedKeyBinding(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		w.addSGC(1, 2)
		v1 := w.genKey(attrs(1, kmc.VUDK))
		w.genKey(attrs(2, kmc.VUDK))
		s := newSM(t, "sts-test-sm", "94000001")
		w.register(s, kmc.Vending)
		w.grant(s, 1, kmc.VUDK)
		var own []byte
		if err := db.QueryRow(w.ctx, `SELECT sealed FROM vending_keys WHERE id = $1`, v1.ID).Scan(&own); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(w.ctx, `UPDATE vending_keys SET sealed = (SELECT v2.sealed FROM vending_keys v2 WHERE v2.sgc = 2)
			WHERE id = $1`, v1.ID); err != nil {
			t.Fatal(err)
		}
		_, err := w.k.IssueKLF(w.ctx, "gateway", s.request(t, w.pk(), t0))
		wantCode(t, err, kmc.EInternal)

		// Its own sealed key back, but its identity edited (shown as
		// KRN 2): it does not open either.
		if _, err := db.Exec(w.ctx, `UPDATE vending_keys SET sealed = $1, krn = 2 WHERE id = $2`, own, v1.ID); err != nil {
			t.Fatal(err)
		}
		_, err = w.k.IssueKLF(w.ctx, "gateway", s.request(t, w.pk(), t0.Add(time.Second)))
		wantCode(t, err, kmc.EInternal)

		// Restored, the file is issued.
		if _, err := db.Exec(w.ctx, `UPDATE vending_keys SET krn = 1 WHERE id = $1`, v1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.k.IssueKLF(w.ctx, "gateway", s.request(t, w.pk(), t0.Add(2*time.Second))); err != nil {
			t.Fatal(err)
		}
	})
}
