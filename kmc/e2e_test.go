package kmc_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// TestEndToEnd is the whole loop without mail: the KMC publishes its
// PK.ECDH.1, a vending module makes a VKLOAD.REQ.1 for it, the KMC issues a
// Key Load File, the module opens it (keyload.Open) and finds exactly the
// keys it is authorised for; a decoder key derived from one of them makes a
// credit token the meter simulator accepts.
func TestEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		w.addSGC(123456, 600001, 700002)
		vudk := w.genKey(attrs(123456, kmc.VUDK))
		vcdk := w.genKey(attrs(123456, kmc.VCDK))
		w.genKey(attrs(123456, kmc.KeyInit))               // not for a vending module
		w.genKey(attrs(600001, kmc.VUDK))                  // a group it is not authorised for
		dk02 := attrs(700002, kmc.VDDK)                    // a DKGA02 key
		dk02.DKGA, dk02.EA, dk02.BDT = 2, 7, 1993          //
		vddk := w.genKey(dk02)                             //
		w.genKey(attrs(700002, kmc.VUDK))                  // a type it is not authorised for
		expired := attrs(700002, kmc.VDDK)                 // past EXP: never issued
		expired.KRN, expired.EXP = 5, t0.Add(-time.Minute) //
		expired.ACT = t0.Add(-48 * time.Hour)              //
		w.genKey(expired)

		s := newSM(t, "sts-test-sm", "94000001")
		w.register(s, kmc.Vending)
		w.grant(s, 123456, kmc.VUDK, kmc.VCDK)
		w.grant(s, 700002, kmc.VDDK)

		// The module gets the public key as the gateway sends it, checks
		// the fingerprint line, and makes its request.
		key, err := w.k.CurrentKey(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		published, _ := kmc.FormatPublicKey(key)
		if want := "KMC Public Key Fingerprint: " + records.Fingerprint(key.Body).String() + "\r\n"; !bytes.HasPrefix(published, []byte(want)) {
			t.Fatalf("published text starts %q, want %q", published[:50], want)
		}
		pk := parsePublished(t, key)
		req := s.request(t, pk, t0.Add(-2*time.Minute))
		body, _ := req.Format()
		mail, _ := armor.Wrap(body)
		mail = append([]byte("Please send my keys.\r\n\r\n"), append(mail, "Regards, User\r\n"...)...)

		klf, err := w.k.IssueKLFText(w.ctx, "gateway", mail)
		if err != nil {
			t.Fatal(err)
		}
		if klf.FileName != "94000001_20250601T120000Z.klf" {
			t.Errorf("file name %q", klf.FileName)
		}
		if !slices.Equal(klf.Emails, []string{"ops@utility.example"}) {
			t.Errorf("emails %q", klf.Emails)
		}
		keys := s.open(t, pk, req, klf)
		var got []keyID
		for _, k := range keys {
			got = append(got, keyID{k.SGC, k.KRN, k.KT, kcvOf(t, k.Key)})
		}
		want := []keyID{
			{123456, vudk.KRN, 2, vudk.KCV},
			{123456, vcdk.KRN, 3, vcdk.KCV},
			{700002, vddk.KRN, 1, vddk.KCV},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the module got %v, want %v", got, want)
		}
		if len(klf.Keys) != 3 || klf.Keys[0].KCV != vudk.KCV || klf.Keys[0].ID != vudk.ID {
			t.Errorf("KLF.Keys %v", klf.Keys)
		}
		k02 := keys[2]
		if k02.BDT != 1993 || k02.DKGA != 2 || k02.EA != 7 || len(k02.Key) != 8 {
			t.Errorf("DKGA02 key attributes %+v", k02)
		}

		// The vending side derives a meter's DUTK from the VUDK and makes
		// a credit token; the meter accepts it once.
		tokenAccepted(t, keys[0], sts.DUTK)

		// The audit log holds the issue, with the keys by KCV and never a
		// key.
		assertAudit(t, w, "klf.issue", vudk.KCV, keys)
	})
}

// tokenAccepted derives a meter's decoder key of type kt from vk, makes a
// meter with it, and checks that a credit token made under it is accepted.
func tokenAccepted(t *testing.T, vk keyload.VendingKey, kt sts.KeyType) {
	t.Helper()
	pan := testPAN(t)
	dk := decoderKey(t, vk, kt, pan)
	m, err := meter.New(meter.Config{PAN: pan, EA: sts.EA(vk.EA), Key: dk, KeyType: kt, KRN: uint8(vk.KRN), TI: 1,
		KEN: uint8(vk.KEN), SGC: uint32(vk.SGC), BaseDate: sts.BaseDate(vk.BDT)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sts.NewCipher(sts.EA(vk.EA), dk, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := credit(t, c, sts.BaseDate(vk.BDT), 250)
	if r := m.Enter(token); r.Outcome != meter.Accepted {
		t.Fatalf("meter: %v for a credit token under a key from the KLF", r.Outcome)
	}
	if r := m.Enter(token); r.Outcome != meter.UsedError {
		t.Fatalf("meter: %v for the same token again", r.Outcome)
	}
}

// testPAN is the meter of these tests.
func testPAN(t *testing.T) sts.PAN {
	t.Helper()
	pan, err := sts.NewPAN("600727", "04123456784")
	if err != nil {
		t.Fatal(err)
	}
	return pan
}

// decoderKey derives the decoder key of type kt of meter pan (TI 1) from
// vk.
func decoderKey(t *testing.T, vk keyload.VendingKey, kt sts.KeyType, pan sts.PAN) []byte {
	t.Helper()
	gen, err := dkga.New(dkga.Algorithm(vk.DKGA), vk.Key)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := gen.DecoderKey(dkga.Params{KeyType: kt, SGC: uint32(vk.SGC), TI: 1, KRN: uint8(vk.KRN), PAN: pan,
		BaseDate: sts.BaseDate(vk.BDT), EA: sts.EA(vk.EA)})
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

// credit is a credit token (electricity) of amount, issued at t0 under c
// on base date bd.
func credit(t *testing.T, c sts.Cipher, bd sts.BaseDate, amount uint64) string {
	t.Helper()
	tid, err := bd.TID(t0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := sts.EncodeAmount(amount)
	if err != nil {
		t.Fatal(err)
	}
	token, err := sts.Encode(sts.Credit{Sub: sts.Electricity, TID: tid, Amount: a}, c)
	if err != nil {
		t.Fatal(err)
	}
	return token.String()
}

// assertAudit checks that the log verifies, holds an entry of action
// mentioning kcv, and that no key of keys appears anywhere in it.
func assertAudit(t *testing.T, w *world, action, kcv string, keys []keyload.VendingKey) {
	t.Helper()
	if _, err := w.k.AuditLog().Verify(w.ctx); err != nil {
		t.Fatal(err)
	}
	found := false
	err := w.k.AuditLog().Records(w.ctx, 1, func(r audit.Record) error {
		text := strings.ToUpper(string(r.Details.(json.RawMessage)))
		if r.Action == action && strings.Contains(text, kcv) {
			found = true
		}
		for _, k := range keys {
			if strings.Contains(text, strings.ToUpper(hex.EncodeToString(k.Key))) {
				t.Errorf("audit record %d (%s) holds a vending key", r.Seq, r.Action)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Errorf("no %s audit record with KCV %s", action, kcv)
	}
}

// TestManufacturingEndToEnd: a manufacturing module receives the
// initialization key with the vending keys; a meter initialised with a
// DITK derived from it is moved to a DUTK by a key change set, and accepts
// credit under the new key.
func TestManufacturingEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		w.addSGC(123456)
		initKey := w.genKey(attrs(123456, kmc.KeyInit))
		vudk := w.genKey(attrs(123456, kmc.VUDK))
		s := newSM(t, "kmc-test-manufacturing", "95000001")
		w.register(s, kmc.Manufacturing)
		w.grant(s, 123456, kmc.KeyInit, kmc.VUDK)
		keys := w.fetchKeys(s, w.pk(), t0)
		if len(keys) != 2 || keys[0].KT != 0 || keys[1].KT != 2 || kcvOf(t, keys[0].Key) != initKey.KCV ||
			kcvOf(t, keys[1].Key) != vudk.KCV {
			t.Fatalf("manufacturing module got %d keys, not the DITK and the DUTK", len(keys))
		}
		keyChangeAccepted(t, keys[0], keys[1])
	})
}

// keyChangeAccepted: a meter on the DITK of initKey takes the key change
// set to the DUTK of vudk, then a credit token under the DUTK.
func keyChangeAccepted(t *testing.T, initKey, vudk keyload.VendingKey) {
	t.Helper()
	pan := testPAN(t)
	ditk, dutk := decoderKey(t, initKey, sts.DITK, pan), decoderKey(t, vudk, sts.DUTK, pan)
	m, err := meter.New(meter.Config{PAN: pan, EA: sts.EA11, Key: ditk, KeyType: sts.DITK, KRN: uint8(initKey.KRN), TI: 1,
		KEN: 255, SGC: uint32(initKey.SGC), BaseDate: sts.BaseDate2014})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := sts.NewCipher(sts.EA11, ditk, nil)
	set, err := sts.KeyChangeTokens(sts.NewKey{Key: dutk, KeyType: sts.DUTK, KRN: uint8(vudk.KRN), TI: 1, KEN: 255, SGC: uint32(vudk.SGC)})
	if err != nil {
		t.Fatal(err)
	}
	var r meter.Result
	for _, tok := range set {
		n, err := sts.Encode(tok, old)
		if err != nil {
			t.Fatal(err)
		}
		r = m.Enter(n.String())
	}
	if r.Outcome != meter.KeyChanged {
		t.Fatalf("key change set: %v", r.Outcome)
	}
	c, _ := sts.NewCipher(sts.EA11, dutk, nil)
	if r := m.Enter(credit(t, c, sts.BaseDate2014, 100)); r.Outcome != meter.Accepted {
		t.Fatalf("credit under the new DUTK: %v", r.Outcome)
	}
}

// TestIssueRef: a gateway that lost the file (crashed after the KMC issued
// it) asks again under the same reference and gets the same bytes, even
// past the freshness window; under another reference, or none, the request
// is a replay. A wrong tag gets nothing.
func TestIssueRef(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, s := newVendingWorld(t, db)
		pk := w.pk()
		req := s.request(t, pk, t0)
		klf, err := w.k.IssueKLFWith(w.ctx, "gateway", req, kmc.IssueOptions{Ref: "mail-1"})
		if err != nil {
			t.Fatal(err)
		}
		w.clock.Add(2 * time.Hour) // long past the freshness window
		again, err := w.k.IssueKLFWith(context.Background(), "gateway", req, kmc.IssueOptions{Ref: "mail-1"})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.File, klf.File) || again.FileName != klf.FileName || len(again.Keys) != 1 ||
			again.Keys[0].KCV != klf.Keys[0].KCV || !slices.Equal(again.Bodies, klf.Bodies) {
			t.Fatalf("a second, different file")
		}
		w.clock.Set(t0.Add(time.Minute))
		_, err = w.k.IssueKLFWith(w.ctx, "gateway", req, kmc.IssueOptions{Ref: "mail-2"})
		wantCode(t, err, kmc.EVkloadReplayed)
		_, err = w.k.IssueKLF(w.ctx, "gateway", req)
		wantCode(t, err, kmc.EVkloadReplayed)
		bad := *req
		bad.Tag = bytes.Clone(req.Tag)
		bad.Tag[0] ^= 1
		_, err = w.k.IssueKLFWith(w.ctx, "gateway", &bad, kmc.IssueOptions{Ref: "mail-1"})
		wantCode(t, err, kmc.ETagInvalid)
		w.wantAudit("klf.issue", 1)
	})
}

// TestIssueReplyTo: a file goes only to addresses registered for the
// module; the check comes before anything is issued.
func TestIssueReplyTo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, s := newVendingWorld(t, db) // ops@utility.example
		req := s.request(t, w.pk(), t0)
		_, err := w.k.IssueKLFWith(w.ctx, "gateway", req, kmc.IssueOptions{ReplyTo: []string{"OPS@utility.example", "mallory@example.net"}})
		wantCode(t, err, kmc.ENotAuthorisedSender)
		var e *kmc.Error
		if errors.As(err, &e); !slices.Equal(e.Params, []string{"mallory@example.net"}) {
			t.Errorf("params %q", e.Params)
		}
		if _, err := w.k.IssueKLFWith(w.ctx, "gateway", req, kmc.IssueOptions{ReplyTo: []string{"Ops <OPS@Utility.example>"}}); err != nil {
			t.Fatal(err)
		}
	})
}
