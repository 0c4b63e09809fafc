package kmc_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodytest"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// t0 is the tests' "now": every world starts its clock here.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// world is a KMC on a fresh database with a test key store.
type world struct {
	t       testing.TB
	ctx     context.Context
	db      *store.DB
	k       *kmc.KMC
	clock   *testclock.Clock
	custody keystore.Custody
	sealed  *keystore.Sealed // the store under custody
}

const actor = "officer:test"

// newWorld sets up a KMC in mode on db, its clock at t0.
func newWorld(t testing.TB, db *store.DB, mode kmc.Mode) *world {
	t.Helper()
	ctx := context.Background()
	sealed := custodytest.Sealed(t, filepath.Join(t.TempDir(), "keystore"))
	var custody keystore.Custody = sealed
	if mode == kmc.ModeLive {
		custody = custodytest.Live(sealed)
	}
	w := &world{t: t, ctx: ctx, db: db, clock: testclock.New(t0), custody: custody, sealed: sealed}
	var err error
	w.k, err = kmc.New(ctx, kmc.Config{DB: db, Custody: custody, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.k.Setup(ctx, actor, kmc.Identity{Vendor: "TestKMC", ID: "K0001", Mode: mode}, 0); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) addSGC(sgcs ...int) {
	w.t.Helper()
	for _, sgc := range sgcs {
		if _, err := w.k.AddSupplyGroup(w.ctx, actor, sgc, "test group"); err != nil {
			w.t.Fatal(err)
		}
	}
}

// attrs returns usable attributes of a DKGA04/EA11 key of type kt, active
// since a day before t0, issuable for a year and usable for two.
func attrs(sgc int, kt kmc.KeyType) kmc.VKAttributes {
	return kmc.VKAttributes{SGC: sgc, Type: kt, BDT: 2014, DKGA: 4, EA: 11, KEN: 255,
		ACT: t0.Add(-24 * time.Hour), EXP: t0.AddDate(1, 0, 0), IUT: t0.AddDate(2, 0, 0), CLM: 0xFFFFFFFF}
}

func (w *world) genKey(a kmc.VKAttributes) kmc.VendingKey {
	w.t.Helper()
	v, err := w.k.GenerateVendingKey(w.ctx, actor, a)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// sm is the security module's side: a deterministic test key.
type sm struct {
	mod      keyload.Module
	model    string
	firmware string
}

// newSM makes the module "TestVendor:<id>" with the test key of label.
func newSM(t testing.TB, label, id string) *sm {
	t.Helper()
	key, pkid := testparty.Module(t, label, id)
	return &sm{mod: keyload.Module{Key: key, PKID: pkid}, model: "Test-SSM-1", firmware: "SSM1V100"}
}

func (s *sm) smid() string { return s.mod.PKID.String() }

// record is the module as the registry takes it.
func (s *sm) record(v kmc.Variant, virtual, certified bool) kmc.SM {
	return kmc.SM{SMID: s.mod.PKID, PublicKey: s.mod.Key.PublicKey(), Model: s.model, Firmware: s.firmware,
		Variant: v, Virtual: virtual, Certified: certified, Emails: []string{"ops@utility.example"}}
}

// register registers s as a virtual module of variant v (test mode).
func (w *world) register(s *sm, v kmc.Variant) {
	w.t.Helper()
	if _, err := w.k.RegisterSM(w.ctx, actor, s.record(v, true, false)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) grant(s *sm, sgc int, types ...kmc.KeyType) kmc.KUA {
	w.t.Helper()
	a, err := w.k.Grant(w.ctx, actor, s.smid(), kmc.KUA{SGC: sgc, Types: kmc.TypesOf(types...), Until: t0.AddDate(1, 0, 0)})
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// newVendingWorld is a test-mode world with supply group 1 and one VUDK
// for it, and module "sts-test-sm" (94000001) registered as a vending SM
// (ops@utility.example) and authorised for that key.
func newVendingWorld(t testing.TB, db *store.DB) (*world, *sm) {
	t.Helper()
	w := newWorld(t, db, kmc.ModeTest)
	w.addSGC(1)
	w.genKey(attrs(1, kmc.VUDK))
	s := newSM(t, "sts-test-sm", "94000001")
	w.register(s, kmc.Vending)
	w.grant(s, 1, kmc.VUDK)
	return w, s
}

// pk returns the KMC's current PK.ECDH.1 as the module gets it: from the
// published text.
func (w *world) pk() *records.PKECDH {
	w.t.Helper()
	key, err := w.k.CurrentKey(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return parsePublished(w.t, key)
}

func parsePublished(t testing.TB, key kmc.Key) *records.PKECDH {
	t.Helper()
	text, err := kmc.FormatPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := armor.Find(text)
	if err != nil || len(blocks) != 1 {
		t.Fatalf("published key: %d blocks, %v", len(blocks), err)
	}
	pk, err := records.ParsePKECDH(blocks[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// request is the module's VKLOAD.REQ.1 for pk at time at.
func (s *sm) request(t testing.TB, pk *records.PKECDH, at time.Time) *records.VKLoadReq {
	t.Helper()
	req, err := keyload.NewRequest(s.mod, pk, at, s.model, s.firmware)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// fetchKeys has module s request a Key Load File for pk at time at, sent
// as the gateway sends it, and returns the vending keys s opens from it.
func (w *world) fetchKeys(s *sm, pk *records.PKECDH, at time.Time) []keyload.VendingKey {
	w.t.Helper()
	req := s.request(w.t, pk, at)
	klf, err := w.k.IssueKLF(w.ctx, "gateway", req)
	if err != nil {
		w.t.Fatal(err)
	}
	return s.open(w.t, pk, req, klf)
}

// open loads a KLF on the module's side and returns its keys.
func (s *sm) open(t testing.TB, pk *records.PKECDH, req *records.VKLoadReq, klf *kmc.KLF) []keyload.VendingKey {
	t.Helper()
	blocks, err := armor.ParseFile(klf.File)
	if err != nil {
		t.Fatal(err)
	}
	bodies := make([]string, len(blocks))
	for i, b := range blocks {
		bodies[i] = b.Body
	}
	keys, err := keyload.Open(s.mod, keyload.Pending{KMC: pk, RequestTime: req.Time}, bodies)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// wantCode fails unless err is a *kmc.Error of code c.
func wantCode(t testing.TB, err error, c kmc.Code) {
	t.Helper()
	var e *kmc.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want a *kmc.Error %s", err, c)
	}
	if e.Code != c {
		t.Fatalf("code %s (%v), want %s", e.Code, err, c)
	}
}

// keyID describes a key by what a KLF and the KMC both show.
type keyID struct {
	SGC, KRN, KT int
	KCV          string
}

func kcvOf(t testing.TB, key []byte) string {
	t.Helper()
	kcv, err := keyagree.KCV(key)
	if err != nil {
		t.Fatal(err)
	}
	return hexU(kcv)
}

func hexU(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// openErr is open that returns the error.
func openErr(s *sm, pk *records.PKECDH, req *records.VKLoadReq, klf *kmc.KLF) ([]keyload.VendingKey, error) {
	blocks, err := armor.ParseFile(klf.File)
	if err != nil {
		return nil, err
	}
	bodies := make([]string, len(blocks))
	for i, b := range blocks {
		bodies[i] = b.Body
	}
	return keyload.Open(s.mod, keyload.Pending{KMC: pk, RequestTime: req.Time}, bodies)
}

// auditCount verifies the audit log's chain and counts its records of
// action.
func (w *world) auditCount(action string) int {
	w.t.Helper()
	n := 0
	if _, err := w.k.AuditLog().Verify(w.ctx); err != nil {
		w.t.Fatal(err)
	}
	if err := w.k.AuditLog().Records(w.ctx, 1, func(r audit.Record) error {
		if r.Action == action {
			n++
		}
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// wantAudit fails the test unless the audit log holds n records of action.
func (w *world) wantAudit(action string, n int) {
	w.t.Helper()
	if got := w.auditCount(action); got != n {
		w.t.Errorf("%d %s audit records, want %d", got, action, n)
	}
}
