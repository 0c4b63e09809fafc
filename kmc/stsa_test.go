package kmc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// stsaKey is the deterministic test signing key of label (d = SHA-384(label)
// mod n, as the records vectors' "sts-test-stsa").
func stsaKey(t testing.TB, label string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := keyagree.TestKey(label)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P384(), k.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// listing is a module as an STSA update lists it.
func listing(s *sm, certified, revoked bool) records.SMRegModule {
	return records.SMRegModule{SMID: s.mod.PKID, PublicKey: s.mod.Key.PublicKey(), Model: s.model, Firmware: s.firmware,
		Variant: string(kmc.Vending), Certified: certified, Revoked: revoked}
}

// update signs the modules as update seq with priv and returns the file.
func update(t testing.TB, priv *ecdsa.PrivateKey, seq uint64, modules ...records.SMRegModule) []byte {
	t.Helper()
	bodies, err := records.SignSMRegUpdate(priv, seq, t0, modules, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fileOf(t, bodies)
}

func fileOf(t testing.TB, bodies []string) []byte {
	t.Helper()
	f, err := armor.File(bodies...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// resign replaces the SMREG.END.1 of bodies with a valid signature by priv
// over the records before it, whatever they hold: a file that is well
// signed but carries whatever fault the caller put in.
func resign(t testing.TB, priv *ecdsa.PrivateKey, bodies []string) []byte {
	t.Helper()
	digest := sha512.Sum384(records.SignedData(bodies[:len(bodies)-1]))
	r, s, err := ecdsa.Sign(zeroReader{}, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 48)), s.FillBytes(make([]byte, 48))...)
	end, err := records.New(records.SMRegEndSpec, len(bodies)-2, sig)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]string{}, bodies[:len(bodies)-1]...)
	return fileOf(t, append(out, end.String()))
}

// flipLast changes the last hex digit of a body: its CRC no longer
// verifies.
func flipLast(body string) string {
	if body[len(body)-1] == '0' {
		return body[:len(body)-1] + "1"
	}
	return body[:len(body)-1] + "0"
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// recrc gives a one-line body its right record CRC.
func recrc(body string) string {
	i := strings.LastIndexByte(body, '|')
	return fmt.Sprintf("%s%04X", body[:i+1], records.CRC16Modbus(body[:i+1]))
}

// modules returns n test modules TestVendor:9500000i.
func modules(t testing.TB, n int) []*sm {
	out := make([]*sm, n)
	for i := range out {
		out[i] = newSM(t, fmt.Sprintf("sts-test-reg-%d", i+1), fmt.Sprintf("950000%02d", i+1))
	}
	return out
}

// newSTSAWorld is a world of mode that trusts the STS Association key
// "sts-test-stsa", which it returns.
func newSTSAWorld(t testing.TB, db *store.DB, mode kmc.Mode) (*world, *ecdsa.PrivateKey) {
	t.Helper()
	w := newWorld(t, db, mode)
	stsa := stsaKey(t, "sts-test-stsa")
	w.addSTSA(stsa)
	return w, stsa
}

func (w *world) addSTSA(priv *ecdsa.PrivateKey) {
	w.t.Helper()
	if _, err := w.k.AddSTSAKey(w.ctx, actor, &priv.PublicKey); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) sms() []kmc.SM {
	w.t.Helper()
	sms, err := w.k.SMs(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return sms
}

// TestRegistryUpdate: no key, no service; an update adds modules, a later
// one changes some, the same one again is stale; one audit record each.
func TestRegistryUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		stsa := stsaKey(t, "sts-test-stsa")
		mods := modules(t, 10)
		var list []records.SMRegModule
		for i, m := range mods {
			list = append(list, listing(m, i%2 == 0, i == 9))
		}
		file := update(t, stsa, 1, list...)
		_, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{})
		wantCode(t, err, kmc.ENotAvailable)

		w.addSTSA(stsa)
		if _, err := w.k.AddSTSAKey(w.ctx, actor, &stsa.PublicKey); !errors.Is(err, kmc.ErrExists) {
			t.Errorf("the same key twice: %v", err)
		}
		res, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Seq != 1 || res.Modules != 10 || res.Added != 10 || res.Changed != 0 || res.STSAKey.String() != "7FBF627760988F3D" {
			t.Fatalf("result %+v", res)
		}
		if !strings.Contains(res.Summary(), "registry update 1 (STSA key 7FBF627760988F3D) applied: 10 modules, 10 added") {
			t.Errorf("summary %q", res.Summary())
		}
		sms := w.sms()
		if len(sms) != 10 {
			t.Fatalf("%d modules registered", len(sms))
		}
		for i, s := range sms {
			if s.SMID != mods[i].mod.PKID || s.Virtual || s.Certified != (i%2 == 0) || s.Revoked != (i == 9) || s.Variant != kmc.Vending {
				t.Errorf("module %d: %+v", i, s)
			}
		}
		w.wantAudit("sm.update", 1)

		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{})
		wantCode(t, err, kmc.ESmUpdateStale)

		// Update 3 certifies module 2, decertifies module 1, revokes
		// module 3, and lists module 10 as not revoked: it stays revoked.
		list[0].Certified, list[1].Certified, list[2].Revoked, list[9].Revoked = false, true, true, false
		res, err = w.k.ApplyRegistryUpdate(w.ctx, actor, update(t, stsa, 3, list...), kmc.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Added != 0 || res.Changed != 3 || res.Unchanged != 7 {
			t.Errorf("result %+v", res)
		}
		sms = w.sms()
		if sms[0].Certified || !sms[1].Certified || !sms[2].Revoked || !sms[9].Revoked {
			t.Errorf("after update 3: %+v", sms[:3])
		}
		if !strings.Contains(sms[2].RevokeReason, "registry update 3") {
			t.Errorf("revoke reason %q", sms[2].RevokeReason)
		}
		// 2 is not greater than 3.
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, update(t, stsa, 2, list...), kmc.UpdateOptions{})
		wantCode(t, err, kmc.ESmUpdateStale)
		w.wantAudit("sm.update", 2)
		w.wantAudit("sm.update.refuse", 3)
	})
}

// TestRegistryUpdateAllOrNothing: a file whose 7th of 10 module records
// is bad — signed all the same — changes nothing, whichever way it is bad.
func TestRegistryUpdateAllOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, stsa := newSTSAWorld(t, db, kmc.ModeTest)
		mods := modules(t, 10)
		// Module 7 is registered already, as a manufacturing module.
		hw := mods[6].record(kmc.Manufacturing, false, false)
		if _, err := w.k.RegisterSM(w.ctx, actor, hw); err != nil {
			t.Fatal(err)
		}
		before := w.sms()
		var list []records.SMRegModule
		for _, m := range mods {
			list = append(list, listing(m, true, false))
		}
		good, err := records.SignSMRegUpdate(stsa, 1, t0, list, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Record 8 of the file is the 7th module.
		with := func(body string) []string {
			b := append([]string{}, good...)
			b[7] = body
			return b
		}
		otherKey := newSM(t, "sts-test-other", "x").mod.Key.PublicKey().Bytes()
		badKH := good[7]
		i := strings.Index(badKH, "|04")
		badKH = recrc(badKH[:i+1] + fmt.Sprintf("%X", otherKey) + badKH[i+1+2*records.PublicKeySize:])
		for _, tc := range []struct {
			name   string
			file   []byte
			code   kmc.Code
			params []string
		}{
			{"key hash of another key", resign(t, stsa, with(badKH)), kmc.ESmUpdateRecord, []string{"8"}},
			{"bad CRC", resign(t, stsa, with(flipLast(good[7]))), kmc.ESmUpdateRecord, []string{"8"}},
			{"listed twice", resign(t, stsa, with(recrc(strings.Replace(good[3], "SMREG.SM.1|3|", "SMREG.SM.1|7|", 1)))),
				kmc.ESmUpdateConflict, []string{"8", mods[2].smid()}},
			{"another variant than registered", fileOf(t, good), kmc.ESmUpdateConflict, []string{"8", mods[6].smid()}},
			{"not a file of records", []byte("SMREG.HDR.1|x\r\n"), kmc.ESmUpdateRecord, []string{"0"}},
		} {
			_, err := w.k.ApplyRegistryUpdate(w.ctx, actor, tc.file, kmc.UpdateOptions{})
			var e *kmc.Error
			if !errors.As(err, &e) || e.Code != tc.code || !reflect.DeepEqual(e.Params, tc.params) {
				t.Errorf("%s: %v (%+v), want %s %v", tc.name, err, e, tc.code, tc.params)
			}
			if after := w.sms(); !reflect.DeepEqual(after, before) {
				t.Fatalf("%s: the registry changed:\n%+v\nwant\n%+v", tc.name, after, before)
			}
		}
		// Once module 7 is listed as it is registered, the same update
		// applies, as number 1: the refusals used up no sequence number.
		list[6].Variant = string(kmc.Manufacturing)
		res, err := w.k.ApplyRegistryUpdate(w.ctx, actor, update(t, stsa, 1, list...), kmc.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Added != 9 || res.Changed != 1 {
			t.Errorf("result %+v", res)
		}
	})
}

// TestRegistryUpdateSignature: a tampered file, another key's signature
// under the configured key's id, and an unknown key are refused, each with
// its code; removing a key makes its updates unknown.
func TestRegistryUpdateSignature(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		stsa, other := stsaKey(t, "sts-test-stsa"), stsaKey(t, "sts-test-other-stsa")
		w.addSTSA(stsa)
		m := modules(t, 2)
		good, err := records.SignSMRegUpdate(stsa, 5, t0, []records.SMRegModule{listing(m[0], false, false), listing(m[1], false, false)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tampered := append([]string{}, good...)
		tampered[2] = recrc(strings.Replace(good[2], "|N|N|", "|Y|N|", 1))
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, fileOf(t, tampered), kmc.UpdateOptions{})
		wantCode(t, err, kmc.ESmUpdateSignature)

		forged, err := records.SignSMRegUpdate(other, 5, t0, []records.SMRegModule{listing(m[0], true, false)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, fileOf(t, forged), kmc.UpdateOptions{})
		wantCode(t, err, kmc.ESmUpdateUnknownKey)
		forged[0] = strings.Replace(forged[0], mustID(t, other), mustID(t, stsa), 1)
		forged[0] = recrc(forged[0])
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, fileOf(t, forged), kmc.UpdateOptions{})
		wantCode(t, err, kmc.ESmUpdateSignature)
		if len(w.sms()) != 0 {
			t.Fatal("a refused update registered modules")
		}

		if err := w.k.RemoveSTSAKey(w.ctx, actor, mustID(t, stsa)); err != nil {
			t.Fatal(err)
		}
		if err := w.k.RemoveSTSAKey(w.ctx, actor, mustID(t, stsa)); !errors.Is(err, kmc.ErrNotFound) {
			t.Errorf("removing it twice: %v", err)
		}
		w.addSTSA(other)
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, fileOf(t, good), kmc.UpdateOptions{})
		wantCode(t, err, kmc.ESmUpdateUnknownKey)
		keys, err := w.k.STSAKeys(w.ctx)
		if err != nil || len(keys) != 1 || !keys[0].PublicKey.Equal(&other.PublicKey) || keys[0].AddedBy != actor {
			t.Errorf("keys %+v, %v", keys, err)
		}
	})
}

func mustID(t testing.TB, priv *ecdsa.PrivateKey) string {
	t.Helper()
	id, err := records.STSAKeyID(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// TestRegistryUpdateRef: the same delivery (Ref) gets the same answer —
// the same result without applying twice, or the same refusal even after
// what caused it was put right; another delivery of an applied file is
// stale.
func TestRegistryUpdateRef(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeTest)
		stsa := stsaKey(t, "sts-test-stsa")
		m := modules(t, 3)
		file := update(t, stsa, 1, listing(m[0], true, false), listing(m[1], false, false))

		_, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-0"})
		wantCode(t, err, kmc.ENotAvailable)
		w.addSTSA(stsa)
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-0"})
		wantCode(t, err, kmc.ENotAvailable)

		first, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-1"})
		if err != nil {
			t.Fatal(err)
		}
		w.clock.Add(time.Hour)
		again, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-1"})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) || again.Summary() != first.Summary() {
			t.Errorf("retry answered %+v, first %+v", again, first)
		}
		w.wantAudit("sm.update", 1)
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-2"})
		wantCode(t, err, kmc.ESmUpdateStale)
		var e *kmc.Error
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-2"})
		if !errors.As(err, &e) || e.Code != kmc.ESmUpdateStale || !reflect.DeepEqual(e.Params, []string{"1", "1"}) {
			t.Errorf("retry of a refusal: %v", err)
		}
	})
}

// TestRegistryUpdateCertifies: a live KMC refuses a registered hardware
// module that is not certified (STS 600-10-1 §4.5) until the STS
// Association's update certifies it, then issues; a later update revoking
// it makes the KMC refuse again.
func TestRegistryUpdateCertifies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, stsa := newSTSAWorld(t, db, kmc.ModeLive)
		w.addSGC(123456)
		w.genKey(attrs(123456, kmc.VUDK))
		s := newSM(t, "sts-test-sm", "94000001")
		s.model = "Prism-TSM250-1"
		if _, err := w.k.RegisterSM(w.ctx, actor, s.record(kmc.Vending, false, false)); err != nil {
			t.Fatal(err)
		}
		w.grant(s, 123456, kmc.VUDK)
		pk := w.pk()

		_, err := w.k.IssueKLF(w.ctx, actor, s.request(t, pk, t0))
		wantCode(t, err, kmc.ESmNotCertified)

		if _, err := w.k.ApplyRegistryUpdate(w.ctx, actor, update(t, stsa, 1, listing(s, true, false)), kmc.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		req := s.request(t, pk, t0.Add(time.Minute))
		klf, err := w.k.IssueKLF(w.ctx, actor, req)
		if err != nil {
			t.Fatal(err)
		}
		if keys := s.open(t, pk, req, klf); len(keys) != 1 {
			t.Fatalf("%d keys", len(keys))
		}

		if _, err := w.k.ApplyRegistryUpdate(w.ctx, actor, update(t, stsa, 2, listing(s, true, true)), kmc.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = w.k.IssueKLF(w.ctx, actor, s.request(t, pk, t0.Add(2*time.Minute)))
		wantCode(t, err, kmc.ESmRevoked)
	})
}

// TestRegistryUpdateVirtual: a module registered as virtual, or a software
// model, listed by the STS Association is a conflict.
func TestRegistryUpdateVirtual(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, stsa := newSTSAWorld(t, db, kmc.ModeTest)
		s := newSM(t, "sts-test-sm", "94000001")
		w.register(s, kmc.Vending)
		_, err := w.k.ApplyRegistryUpdate(w.ctx, actor, update(t, stsa, 1, listing(s, true, false)), kmc.UpdateOptions{})
		wantCode(t, err, kmc.ESmUpdateConflict)
		soft := newSM(t, "sts-test-sm2", "94000002")
		soft.model = "stskms-SoftSM"
		_, err = w.k.ApplyRegistryUpdate(w.ctx, actor, update(t, stsa, 1, listing(soft, false, false)), kmc.UpdateOptions{})
		wantCode(t, err, kmc.ESmUpdateConflict)
	})
}

// TestParseSTSAPublicKey: PEM (PKIX) and hex points of P-384 only.
func TestParseSTSAPublicKey(t *testing.T) {
	stsa := stsaKey(t, "sts-test-stsa")
	point, _ := stsa.PublicKey.Bytes()
	for _, in := range []string{
		"-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE+BSDCcrmpnkK+HZ/V9jSaE4DM+h2GRBE\n10W/Ff9YnImui4qcQCtZaKGriGlkGSFeO1yEY1X8U8xJ0O/sG3zzgQvWEd0D4YIu\nbxN4mJhihDzSoRjROrtKLDrTU8ULveDz\n-----END PUBLIC KEY-----\n",
		fmt.Sprintf("%X\n", point),
	} {
		pub, err := kmc.ParseSTSAPublicKey([]byte(in))
		if err != nil || !pub.Equal(&stsa.PublicKey) {
			t.Errorf("%q: %v", in[:20], err)
		}
	}
	k256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k256.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p256 := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	for _, in := range []string{p256, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "04ZZ", fmt.Sprintf("%X", point[:96])} {
		if _, err := kmc.ParseSTSAPublicKey([]byte(in)); !errors.Is(err, kmc.ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", in, err)
		}
	}
}

// TestUpdateCodes: every code of the registry update has a description
// and is not one of the Key Load File codes.
func TestUpdateCodes(t *testing.T) {
	for _, c := range kmc.UpdateCodes {
		if c.Description() == "" || !strings.HasPrefix(string(c), "E") {
			t.Errorf("code %q: description %q", c, c.Description())
		}
		for _, k := range kmc.Codes {
			if k == c {
				t.Errorf("code %s is also a Key Load File code", c)
			}
		}
	}
}

// FuzzParseRegistryUpdate feeds arbitrary files to ParseRegistryUpdate:
// never a panic; a refusal is ESmUpdateRecord or ESmUpdateConflict with the
// record's position; an accepted file holds its modules.
func FuzzParseRegistryUpdate(f *testing.F) {
	stsa := stsaKey(f, "sts-test-stsa")
	m := modules(f, 2)
	good := update(f, stsa, 1, listing(m[0], true, false), listing(m[1], false, true))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("STS:SMREG.HDR.1 BEGINS\r\nSMREG.HDR.1|\r\nSTS:SMREG.HDR.1 ENDS\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, file []byte) {
		u, err := kmc.ParseRegistryUpdate(file)
		if err != nil {
			var e *kmc.Error
			if u != nil || !errors.As(err, &e) || (e.Code != kmc.ESmUpdateRecord && e.Code != kmc.ESmUpdateConflict) || len(e.Params) == 0 {
				t.Fatalf("%v (%+v)", err, e)
			}
			return
		}
		if len(u.Modules) == 0 || len(u.Bodies) != len(u.Modules)+2 {
			t.Fatalf("%d modules in %d records", len(u.Modules), len(u.Bodies))
		}
	})
}

// TestRegistryUpdateConcurrentRef: deliveries of one mail processed at
// once (a gateway worker whose lease ran out, say) all get the one
// answer; the update is applied once.
func TestRegistryUpdateConcurrentRef(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, stsa := newSTSAWorld(t, db, kmc.ModeTest)
		file := update(t, stsa, 1, listing(newSM(t, "sts-test-sm", "94000001"), true, false))
		const n = 6
		results := make(chan string, n)
		for range n {
			go func() {
				res, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{Ref: "mail-1"})
				if err != nil {
					results <- err.Error()
					return
				}
				results <- res.Summary()
			}()
		}
		want := "registry update 1 (STSA key 7FBF627760988F3D) applied: 1 modules, 1 added, 0 changed, 0 unchanged"
		for range n {
			if got := <-results; got != want {
				t.Errorf("answer %q, want %q", got, want)
			}
		}
		w.wantAudit("sm.update", 1)
	})
}

// BenchmarkApplyRegistryUpdate: an update of 1000 registered modules,
// each one's certification flipped (so every row is written), on the
// embedded SQLite store. Reports modules/s.
func BenchmarkApplyRegistryUpdate(b *testing.B) {
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "kmc.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w := newWorld(b, db, kmc.ModeTest)
	stsa := stsaKey(b, "sts-test-stsa")
	w.addSTSA(stsa)
	const n = 1000
	list := make([]records.SMRegModule, n)
	for i, m := range modules(b, n) {
		list[i] = listing(m, false, false)
	}
	if _, err := w.k.ApplyRegistryUpdate(w.ctx, actor, update(b, stsa, 1, list...), kmc.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range list {
			list[j].Certified = i%2 == 0
		}
		file := update(b, stsa, uint64(i+2), list...)
		b.StartTimer()
		res, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{})
		if err != nil || res.Changed != n {
			b.Fatalf("%+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "modules/s")
}

// TestSetSMEmails: a module the STS Association's update added comes
// without addresses; the operator gives it some (audited with the old and
// the new list), a bad address or a revoked module changes nothing.
func TestSetSMEmails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w, stsa := newSTSAWorld(t, db, kmc.ModeTest)
		mods := modules(t, 2)
		file := update(t, stsa, 1, listing(mods[0], true, false), listing(mods[1], true, true))
		if _, err := w.k.ApplyRegistryUpdate(w.ctx, actor, file, kmc.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		ref := mods[0].mod.PKID.String()
		if sm, err := w.k.FindSM(w.ctx, ref); err != nil || len(sm.Emails) != 0 {
			t.Fatalf("added by the update: %+v, %v", sm, err)
		}
		sm, err := w.k.SetSMEmails(w.ctx, actor, ref, []string{"Ops <ops@utility.test>", "keys@utility.test"})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(sm.Emails, ","); got != "ops@utility.test,keys@utility.test" {
			t.Errorf("emails %q", got)
		}
		if _, err := w.k.SetSMEmails(w.ctx, actor, ref, []string{"not an address"}); err == nil {
			t.Error("a bad address was taken")
		}
		if _, err := w.k.SetSMEmails(w.ctx, actor, mods[1].mod.PKID.String(), []string{"x@utility.test"}); !errors.Is(err, kmc.ErrRevoked) {
			t.Errorf("revoked module: %v", err)
		}
		if sm, _ := w.k.FindSM(w.ctx, ref); strings.Join(sm.Emails, ",") != "ops@utility.test,keys@utility.test" {
			t.Errorf("after the refusals: %v", sm.Emails)
		}
		w.wantAudit("sm.emails", 1)
	})
}
