package sm_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// TestInstallRefusals: each rule of InstallSlot refuses a record that
// breaks it, with its code, and installs nothing.
func TestInstallRefusals(t *testing.T) {
	good := defaultKMC(t)
	// A record of the live KMC of the seed: its KMCID text, our own key
	// (the seed's key hash is unpublished, so the record is made to pass
	// every other check).
	seedID, err := records.ParsePKID(sm.SeedLiveKMC)
	if err != nil {
		t.Fatal(err)
	}
	live := newKMC(t, "sts-test-kmc", seedID.Vendor, seedID.ID, good.pk.Expiry)
	liveOther := newKMC(t, "another-kmc-key", "PRISM", "k0001", good.pk.Expiry) // any key of that KMC
	expired := newKMC(t, "sts-test-kmc", "TestKMC", "K0002", t0.Add(-time.Hour))
	badCRC := good.record[:len(good.record)-4] + "0000"
	if badCRC == good.record {
		badCRC = good.record[:len(good.record)-4] + "FFFF"
	}
	// The KMCID of one key with the public key of another: key hash wrong.
	other := newKMC(t, "other-kmc", "TestKMC", "K0003", good.pk.Expiry)
	swapped := &records.PKECDH{KMCID: other.pk.KMCID, PublicKey: good.pk.PublicKey, Expiry: good.pk.Expiry}
	swappedBody, err := swapped.Format()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  sm.InstallRequest
		code sm.Code
		kind error
	}{
		{"live KMC of the seed", sm.InstallRequest{Record: live.record, Fingerprint: live.fp, TestKMC: true}, sm.CodeExtended, sm.ErrLiveKMC},
		{"another key of the live KMC", sm.InstallRequest{Record: liveOther.record, Fingerprint: liveOther.fp, TestKMC: true}, sm.CodeExtended, sm.ErrLiveKMC},
		{"not declared a test KMC", sm.InstallRequest{Record: good.record, Fingerprint: good.fp}, sm.CodeExtended, sm.ErrNotTestKMC},
		{"wrong fingerprint", sm.InstallRequest{Record: good.record, Fingerprint: other.fp, TestKMC: true}, sm.CodeExtended, sm.ErrFingerprint},
		{"fingerprint not hex", sm.InstallRequest{Record: good.record, Fingerprint: "not hex", TestKMC: true}, sm.CodeExtended, sm.ErrFingerprint},
		{"expired", sm.InstallRequest{Record: expired.record, Fingerprint: expired.fp, TestKMC: true}, sm.CodeKeyExpired, sm.ErrKMCKeyExpired},
		{"CRC", sm.InstallRequest{Record: badCRC, Fingerprint: good.fp, TestKMC: true}, sm.CodeFormat, records.ErrCRC},
		{"key hash", sm.InstallRequest{Record: swappedBody, Fingerprint: records.Fingerprint(swappedBody).String(), TestKMC: true}, sm.CodeFormat, records.ErrKeyHash},
		{"not a record", sm.InstallRequest{Record: "hello", Fingerprint: good.fp, TestKMC: true}, sm.CodeFormat, sm.ErrFormat},
		{"slot out of range", sm.InstallRequest{Record: good.record, Fingerprint: good.fp, TestKMC: true, Slot: sm.MaxSlots + 1}, sm.CodeNoSlot, sm.ErrNoSlot},
	}
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		for _, c := range cases {
			_, err := f.m.InstallSlot(f.ctx, officer, c.req)
			if err == nil {
				t.Fatalf("%s: installed", c.name)
			}
			if sm.CodeOf(err) != c.code || !errors.Is(err, c.kind) {
				t.Errorf("%s: %v (code %s), want %s %v", c.name, err, sm.CodeOf(err), c.code, c.kind)
			}
		}
		if slots, err := f.m.Slots(f.ctx, officer); err != nil || len(slots) != 0 {
			t.Fatalf("slots after refusals: %v, %v", slots, err)
		}
		// The fingerprint may be typed in lower case; the same KMC key
		// twice is refused.
		s, err := f.m.InstallSlot(f.ctx, officer, sm.InstallRequest{Record: good.record, Fingerprint: strings.ToLower(good.fp), TestKMC: true})
		if err != nil || s.Number != 1 || s.State != sm.SlotInstalled {
			t.Fatalf("install: %+v, %v", s, err)
		}
		_, err = f.m.InstallSlot(f.ctx, officer, sm.InstallRequest{Record: good.record, Fingerprint: good.fp, TestKMC: true, Slot: 2})
		wantCode(t, err, sm.CodeSlotState, sm.ErrSlotState)
		_, err = f.m.InstallSlot(f.ctx, officer, sm.InstallRequest{Record: other.record, Fingerprint: other.fp, TestKMC: true, Slot: 1})
		wantCode(t, err, sm.CodeSlotState, sm.ErrSlotState)
	})
}

// TestSlotsFull: MaxSlots KMC keys fill the slots; one more is 27.
func TestSlotsFull(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		for i := range sm.MaxSlots + 1 {
			k := newKMC(t, fmt.Sprintf("kmc-%d", i), "TestKMC", fmt.Sprintf("K%04d", i), f.kmc.pk.Expiry)
			_, err := f.m.InstallSlot(f.ctx, officer, sm.InstallRequest{Record: k.record, Fingerprint: k.fp, TestKMC: true})
			if i < sm.MaxSlots && err != nil {
				t.Fatal(err)
			}
			if i == sm.MaxSlots {
				wantCode(t, err, sm.CodeNoSlot, sm.ErrSlotsFull)
			}
		}
		if err := f.m.DeleteSlot(f.ctx, officer, 5); err != nil {
			t.Fatal(err)
		}
		s, err := f.m.InstallSlot(f.ctx, officer, sm.InstallRequest{Record: f.kmc.record, Fingerprint: f.kmc.fp, TestKMC: true})
		if err != nil || s.Number != 5 {
			t.Fatalf("install after delete: %+v, %v", s, err)
		}
		wantCode(t, f.m.DeleteSlot(f.ctx, officer, 99), sm.CodeNoSlot, sm.ErrNoSlot)
	})
}

// TestRequest: the module's VKLOAD.REQ.1 passes the KMC's check
// (keyload.VerifyRequest) and is exactly what keyload.NewRequest makes with
// the module's key; the slot goes to LOADING with t_req remembered, and
// each request has a later t_req than the one before, even within a
// second.
func TestRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, sm.Vending, func(o *sm.Options) { o.Vendor, o.ID = "TestVendor", "94000001" })
		f.install()
		req, err := f.m.Request(f.ctx, officer, f.slot)
		if err != nil {
			t.Fatal(err)
		}
		body, err := req.Format()
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := records.ParseVKLoadReq(body)
		if err != nil {
			t.Fatal(err)
		}
		if err := keyload.VerifyRequest(f.kmc.mod, parsed, f.clock.Now(), time.Minute); err != nil {
			t.Fatalf("KMC check: %v", err)
		}
		id := f.m.Identify()
		if parsed.SMID.String() != id.SMID.String() || parsed.Model != sm.Model || parsed.Firmware != sm.FirmwareSTS6 ||
			!sameKey(parsed.PublicKey, id.PublicKey) || !parsed.Time.Equal(t0) {
			t.Errorf("request fields: %s", body)
		}
		slots, _ := f.m.Slots(f.ctx, auditor)
		if len(slots) != 1 || slots[0].State != sm.SlotLoading || !slots[0].RequestTime.Equal(t0) {
			t.Fatalf("slot after request: %+v", slots)
		}
		req2, err := f.m.Request(f.ctx, officer, f.slot)
		if err != nil {
			t.Fatal(err)
		}
		if !req2.Time.Equal(t0.Add(time.Second)) {
			t.Errorf("second request in the same second at %v", req2.Time)
		}
		// The tag only the module's key can make: the KMC with another key
		// refuses it.
		otherKMC := newKMC(t, "other", "TestKMC", "K0001", f.kmc.pk.Expiry)
		if err := keyload.VerifyRequest(otherKMC.mod, parsed, f.clock.Now(), time.Minute); err == nil {
			t.Error("another KMC key accepts the request")
		}
		// An expired KMC key: no request (41).
		f.clock.Set(f.kmc.pk.Expiry)
		_, err = f.m.Request(f.ctx, officer, f.slot)
		wantCode(t, err, sm.CodeKeyExpired, sm.ErrKMCKeyExpired)
	})
}

// TestRequestMatchesKeyload: the KMC side, computing the tag as
// keyload.NewRequest does but from its own private key and the module's
// public key, gets the module's tag.
func TestRequestMatchesKeyload(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		f.install()
		req, err := f.m.Request(f.ctx, officer, f.slot)
		if err != nil {
			t.Fatal(err)
		}
		z, err := keyagree.SharedSecret(f.kmc.mod.Key, req.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		kReq, err := keyagree.RequestKey(z, req.Time.Format(records.TimeLayout), req.SMID.String(), req.KMCID.String())
		if err != nil {
			t.Fatal(err)
		}
		signed, _ := req.TagInput()
		tag, err := keyagree.RequestTag(kReq, signed)
		if err != nil || !reflect.DeepEqual(tag, req.Tag) {
			t.Fatalf("tag differs from the KMC side's: %v", err)
		}
	})
}

// TestLoadStates: a Key Load File loads only into a LOADING slot, and only
// the one answering the pending request (26); the slot is ACTIVE after.
func TestLoadStates(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
		f.install()
		_, err := f.m.LoadKLF(f.ctx, officer, f.slot, []string{"x", "y", "z"})
		wantCode(t, err, sm.CodeSlotState, sm.ErrSlotState) // INSTALLED
		first := f.request(k)
		f.clock.Add(time.Minute)
		second := f.request(k) // replaces the pending request
		_, err = f.m.LoadKLF(f.ctx, officer, f.slot, first)
		wantCode(t, err, sm.CodeSlotState, sm.ErrNotPending)
		if _, err := f.m.LoadKLF(f.ctx, officer, f.slot, second); err != nil {
			t.Fatal(err)
		}
		slots, _ := f.m.Slots(f.ctx, officer)
		if slots[0].State != sm.SlotActive || slots[0].Loads != 1 || !slots[0].RequestTime.IsZero() {
			t.Fatalf("slot after load: %+v", slots[0])
		}
		_, err = f.m.LoadKLF(f.ctx, officer, f.slot, second) // ACTIVE now
		wantCode(t, err, sm.CodeSlotState, sm.ErrSlotState)
		_, err = f.m.LoadKLF(f.ctx, officer, 9, second)
		wantCode(t, err, sm.CodeNoSlot, sm.ErrNoSlot)
		// A file for another module is refused as not answering the
		// pending request.
		g := newFixture(t, reopenFresh(t, f.db), sm.Vending)
		g.install()
		_ = g.request(k)
		f.clock.Add(time.Minute)
		f.request(k)
		_, err = g.m.LoadKLF(g.ctx, officer, g.slot, f.request(k))
		wantCode(t, err, sm.CodeSlotState, sm.ErrNotPending)
	})
}

// reopenFresh returns a second database for a second module: a fresh
// SQLite file (one module per database).
func reopenFresh(t *testing.T, _ *store.DB) *store.DB {
	db, err := store.Open(t.Context(), "sqlite:"+t.TempDir()+"/other.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestLoadAllOrNothing: a Key Load File with any record tampered with (a
// key, an attribute, the MAC, a record dropped, swapped or added) changes
// nothing: the registers are as before, byte for byte, and the slot stays
// LOADING with the same request; the intact file then loads.
func TestLoadAllOrNothing(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		old := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
		f.load(old)
		before, err := f.m.Registers(f.ctx, officer)
		if err != nil {
			t.Fatal(err)
		}
		keys := []keyload.VendingKey{vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02), vk(123456, 2, sts.DUTK, sts.BaseDate2014, dkga.DKGA02),
			vk(654321, 1, sts.DCTK, sts.BaseDate2014, dkga.DKGA04)}
		klf := f.request(keys...)
		flip := func(s string, i int) string {
			b := []byte(s)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}
		reCRC := func(s string) string { // fix the record CRC so the record parses
			body := s[:len(s)-4]
			return body + fmt.Sprintf("%04X", records.CRC16Modbus(body))
		}
		vkLine := klf[2]
		ctStart := strings.LastIndex(vkLine[:len(vkLine)-5], "|") + 1
		cases := []struct {
			name string
			klf  []string
			code sm.Code
		}{
			{"key ciphertext", replace(klf, 2, reCRC(flip(vkLine, ctStart+3))), sm.CodeMAC},
			{"attribute (CLM)", replace(klf, 2, reCRC(strings.Replace(vkLine, "|FFFFFFFF|", "|FFFFFFFE|", 1))), sm.CodeMAC},
			{"MAC", replace(klf, len(klf)-1, reCRC(flip(klf[len(klf)-1], 12))), sm.CodeMAC},
			{"record CRC (the MAC covers it)", replace(klf, 1, flip(klf[1], len(klf[1])-2)), sm.CodeMAC},
			{"header", replace(klf, 0, "KLF.HDR.1|x|0000"), sm.CodeFormat},
			{"record dropped", append(append([]string{}, klf[:2]...), klf[3:]...), sm.CodeFormat},
			{"records swapped", swap(klf, 1, 2), sm.CodeMAC},
			{"record added", append(append(append([]string{}, klf[:3]...), klf[2]), klf[3:]...), sm.CodeFormat},
			{"too short", klf[:2], sm.CodeFormat},
		}
		for _, c := range cases {
			_, err := f.m.LoadKLF(f.ctx, officer, f.slot, c.klf)
			if err == nil || sm.CodeOf(err) != c.code {
				t.Fatalf("%s: %v, want code %s", c.name, err, c.code)
			}
			after, err := f.m.Registers(f.ctx, officer)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("%s: registers changed by a refused file", c.name)
			}
			slots, _ := f.m.Slots(f.ctx, officer)
			if slots[0].State != sm.SlotLoading {
				t.Fatalf("%s: slot %s", c.name, slots[0].State)
			}
		}
		regs, err := f.m.LoadKLF(f.ctx, officer, f.slot, klf)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := f.m.Registers(f.ctx, officer)
		if len(regs) != 3 || len(after) != 3 || after[0].KCV == before[0].KCV {
			t.Fatalf("intact file: %d loaded, %d registers", len(regs), len(after))
		}
	})
}

func replace(s []string, i int, v string) []string {
	out := append([]string{}, s...)
	out[i] = v
	return out
}

func swap(s []string, i, j int) []string {
	out := append([]string{}, s...)
	out[i], out[j] = out[j], out[i]
	return out
}

// TestRegisterCapacity: a module of 25 registers (the minimum of STS
// 600-10-1 §4.1.1) takes 25 keys; a file bringing a 26th is refused whole
// (28); reloading existing registers needs no room.
func TestRegisterCapacity(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, sm.Vending, func(o *sm.Options) { o.MaxRegisters = sm.MinRegisters })
		var keys []keyload.VendingKey
		for i := range sm.MinRegisters {
			keys = append(keys, vk(100000+i, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02))
		}
		f.load(keys...)
		f.load(keys[:5]...) // replaced in place
		_, err := f.m.LoadKLF(f.ctx, officer, f.slot, f.request(keys[0], vk(200000, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)))
		wantCode(t, err, sm.CodeNoRegister, sm.ErrRegistersFull)
		regs, _ := f.m.Registers(f.ctx, officer)
		if len(regs) != sm.MinRegisters {
			t.Fatalf("%d registers", len(regs))
		}
	})
}

// TestTenThousandRegisters: the module is designed for 10 000 registers:
// two Key Load Files of 5 000 keys load, a vend finds its register among
// them, and the self-test checks them all.
func TestTenThousandRegisters(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	db := reopenFresh(t, nil)
	f := newFixture(t, db, sm.Vending)
	for part := range 2 {
		keys := make([]keyload.VendingKey, 5000)
		for i := range keys {
			keys[i] = vk(100000+part*5000+i, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
		}
		start := time.Now()
		f.load(keys...)
		t.Logf("5000 keys loaded in %v", time.Since(start))
		if part == 1 {
			mk, mtr := f.meter(1, keys[4321])
			if r := f.creditMeter(mtr, mk, 5); r.Outcome.Rejected() {
				t.Fatalf("meter says %v", r.Outcome)
			}
		}
	}
	regs, _ := f.m.Registers(f.ctx, auditor)
	if len(regs) != 10_000 {
		t.Fatalf("%d registers", len(regs))
	}
	start := time.Now()
	rep, err := f.m.Selftest(f.ctx, auditor)
	if err != nil || !rep.OK {
		t.Fatalf("self-test: %v %s", err, rep.Failure())
	}
	t.Logf("self-test over 10 000 registers in %v", time.Since(start))
}
