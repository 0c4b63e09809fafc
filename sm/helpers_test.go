package sm_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/meter"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
	"github.com/stskms/stskms/sts/sta"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// t0 is the test clock's start: within base date 2014 (TIDs of 1993 ran
// out in November 2024).
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The callers of the tests.
var (
	officer  = sm.Officer.As("alice")
	operator = sm.Operator.As("pos-1")
	auditor  = sm.Auditor.As("audrey")
)

// testKMC is the KMC side, made with keyload directly: a static key, its
// PK.ECDH.1 record and fingerprint.
type testKMC struct {
	mod    keyload.Module
	pk     *records.PKECDH
	record string
	fp     string
}

// newKMC makes a test KMC. label "sts-test-kmc" gives the key of the
// kms-records.md §3.7 vectors; vendor and id name it.
func newKMC(t testing.TB, label, vendor, id string, expiry time.Time) *testKMC {
	t.Helper()
	key, err := keyagree.TestKey(label)
	if err != nil {
		t.Fatal(err)
	}
	kmcid, err := records.NewPKID(records.KMCID, vendor, id, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), key.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	pk := &records.PKECDH{KMCID: kmcid, PublicKey: key.PublicKey(), Expiry: expiry}
	body, err := pk.Format()
	if err != nil {
		t.Fatal(err)
	}
	return &testKMC{mod: keyload.Module{Key: key, PKID: kmcid}, pk: pk, record: body, fp: records.Fingerprint(body).String()}
}

func defaultKMC(t testing.TB) *testKMC {
	return newKMC(t, "sts-test-kmc", "TestKMC", "K0001", time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC))
}

// answer is the KMC's side of a request: it checks the request (as the
// KMC does, keyload.VerifyRequest) and issues a Key Load File of keys.
func (k *testKMC) answer(t testing.TB, req *records.VKLoadReq, at time.Time, keys ...keyload.VendingKey) []string {
	t.Helper()
	body, err := req.Format()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := records.ParseVKLoadReq(body) // as it would arrive
	if err != nil {
		t.Fatal(err)
	}
	if err := keyload.VerifyRequest(k.mod, parsed, at, 10*time.Minute); err != nil {
		t.Fatalf("KMC refuses the module's request: %v", err)
	}
	klf, err := keyload.Issue(k.mod, parsed, keys, at, nil)
	if err != nil {
		t.Fatal(err)
	}
	return klf
}

// vk returns a fresh vending key for a register, valid around t0 with a
// large credit limit.
func vk(sgc, krn int, kt sts.KeyType, bdt sts.BaseDate, alg dkga.Algorithm) keyload.VendingKey {
	ea := sts.EA11
	if alg == dkga.DKGA02 {
		ea = sts.EA07
	}
	key := make([]byte, alg.VendingKeySize())
	rand.Read(key)
	return keyload.VendingKey{SGC: sgc, KRN: krn, KT: int(kt), BDT: int(bdt), DKGA: int(alg), EA: int(ea), KEN: 255,
		ACT: t0.AddDate(-3, 0, 0), IUT: t0.AddDate(1, 0, 0), CLM: 0xFFFFFFFF, Key: key}
}

// fixture is an open module with its clock and KMC.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	dir   string
	db    *store.DB
	clock *testclock.Clock
	kmc   *testKMC
	m     *sm.Module
	opts  sm.Options
	slot  int
}

// newFixture initialises and opens a test module of the variant on db.
func newFixture(t testing.TB, db *store.DB, v sm.Variant, opts ...func(*sm.Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), dir: filepath.Join(t.TempDir(), "sm"), db: db, clock: testclock.New(t0),
		kmc: defaultKMC(t)}
	f.opts = sm.Options{DB: db, Now: f.clock.Now}
	for _, o := range opts {
		o(&f.opts)
	}
	if _, err := sm.Init(f.ctx, f.dir, v, true, f.opts); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	return f
}

// eachFixture runs test with a new fixture of variant v on each back end
// (storetest.Each).
func eachFixture(t *testing.T, v sm.Variant, test func(t *testing.T, f *fixture)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, db *store.DB) { test(t, newFixture(t, db, v)) })
}

// reopen closes the module (if open) and opens it again.
func (f *fixture) reopen() {
	f.t.Helper()
	if f.m != nil {
		f.m.Close()
	}
	m, err := sm.Open(f.ctx, f.dir, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { m.Close() })
	if err := m.Fault(); err != nil {
		f.t.Fatalf("module in error state after open: %v", err)
	}
	f.m = m
}

// install installs the fixture's KMC key into a slot.
func (f *fixture) install() int {
	f.t.Helper()
	s, err := f.m.InstallSlot(f.ctx, officer, sm.InstallRequest{Record: f.kmc.record, Fingerprint: f.kmc.fp, TestKMC: true})
	if err != nil {
		f.t.Fatal(err)
	}
	f.slot = s.Number
	return s.Number
}

// request makes a request from the fixture's slot and has the KMC answer
// it with keys.
func (f *fixture) request(keys ...keyload.VendingKey) []string {
	f.t.Helper()
	req, err := f.m.Request(f.ctx, officer, f.slot)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.kmc.answer(f.t, req, f.clock.Now(), keys...)
}

// load installs the KMC (once) and loads keys through a request and its
// Key Load File.
func (f *fixture) load(keys ...keyload.VendingKey) []sm.Register {
	f.t.Helper()
	if f.slot == 0 {
		f.install()
	}
	regs, err := f.m.LoadKLF(f.ctx, officer, f.slot, f.request(keys...))
	if err != nil {
		f.t.Fatal(err)
	}
	return regs
}

// loadLimited loads the DKGA04 DUTK of SGC 123456, KRN 1, with credit
// limit clm, and returns it.
func (f *fixture) loadLimited(clm uint32) keyload.VendingKey {
	f.t.Helper()
	k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
	k.CLM = clm
	f.load(k)
	return k
}

// pan returns a valid PAN for meter number i.
func pan(t testing.TB, i int) sts.PAN {
	t.Helper()
	drn := []byte("0000000000")
	for j, n := len(drn)-1, i; j >= 0 && n > 0; j, n = j-1, n/10 {
		drn[j] = byte('0' + n%10)
	}
	d, err := sts.LuhnDigit(string(drn))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sts.NewPAN("600727", string(drn)+string(d))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// regKey names the register of vending key k.
func regKey(k keyload.VendingKey) sm.RegisterKey {
	return sm.RegisterKey{SGC: uint32(k.SGC), KRN: uint8(k.KRN), KT: sts.KeyType(k.KT)}
}

// meterKey names meter i on register k.
func meterKey(t testing.TB, i int, k keyload.VendingKey) sm.MeterKey {
	return sm.MeterKey{PAN: pan(t, i), TI: 1, RegisterKey: regKey(k)}
}

// newMeter makes the meter of mk as it leaves the factory with the decoder
// key of vending key k (derived here, on the KMC side, independently of the
// module).
func newMeter(t testing.TB, mk sm.MeterKey, k keyload.VendingKey, at time.Time) *meter.Meter {
	t.Helper()
	g, err := dkga.New(dkga.Algorithm(k.DKGA), k.Key)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := g.DecoderKey(dkga.Params{KeyType: mk.KT, SGC: mk.SGC, TI: mk.TI, KRN: mk.KRN, PAN: mk.PAN,
		BaseDate: sts.BaseDate(k.BDT), EA: sts.EA(k.EA)})
	if err != nil {
		t.Fatal(err)
	}
	manufactured, err := sts.BaseDate(k.BDT).TID(at.Add(-24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m, err := meter.New(meter.Config{PAN: mk.PAN, MfrCode: 4, EA: sts.EA(k.EA), Key: dk, KeyType: mk.KT, KRN: mk.KRN,
		TI: mk.TI, KEN: uint8(k.KEN), SGC: mk.SGC, BaseDate: sts.BaseDate(k.BDT), STATables: sta.TestTables(),
		ManufacturedTID: manufactured})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// meter returns the key of meter i on the register of vending key k, and
// that meter as it leaves the factory today (by the fixture's clock).
func (f *fixture) meter(i int, k keyload.VendingKey) (sm.MeterKey, *meter.Meter) {
	f.t.Helper()
	mk := meterKey(f.t, i, k)
	return mk, newMeter(f.t, mk, k, f.clock.Now())
}

// enter types tokens into a meter and returns the last outcome.
func enter(m *meter.Meter, tokens []string) meter.Result {
	var r meter.Result
	for _, tok := range tokens {
		r = m.Enter(tok)
	}
	return r
}

// wantCode fails unless err is a module refusal with code and sentinel.
func wantCode(t testing.TB, err error, code sm.Code, kind error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %v", code, kind)
	}
	if got := sm.CodeOf(err); got != code {
		t.Fatalf("code %s, want %s: %v", got, code, err)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Fatalf("error %v does not match %v", err, kind)
	}
}

// sameKey reports whether two ECDH public keys are equal.
func sameKey(a, b *ecdh.PublicKey) bool { return a != nil && b != nil && a.Equal(b) }

// credit issues the credit token of req as operator, failing the test if
// the module refuses it.
func (f *fixture) credit(req sm.CreditRequest) sm.Issued {
	f.t.Helper()
	got, err := f.m.Credit(f.ctx, operator, req)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

// creditMeter issues a credit of amount (electricity) to meter mk and
// enters its tokens into mtr, the meter's simulator; it returns what the
// meter says.
func (f *fixture) creditMeter(mtr *meter.Meter, mk sm.MeterKey, amount uint64) meter.Result {
	f.t.Helper()
	return enter(mtr, f.credit(sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: amount}).Tokens)
}
