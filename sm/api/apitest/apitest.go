// Package apitest makes a TEST-ONLY module with a loaded vending key
// register, for the tests of sm/api and for "stskms sm bench". The KMC is
// a test KMC whose key is keyagree.TestKey("sts-test-kmc"); nothing made
// here may ever meet a live meter.
package apitest

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// Register is the register Setup loads: SGC 123456, KRN 1, DUTK, base
// date 2014, DKGA04/EA11.
var Register = sm.RegisterKey{SGC: 123456, KRN: 1, KT: sts.DUTK}

// Setup initialises a test module of the vending variant in dir (which
// must be empty or absent), opens it, installs the test KMC's key and
// loads Register with an unlimited credit limit. The caller closes the
// module.
func Setup(ctx context.Context, dir string) (*sm.Module, error) {
	m, err := New(ctx, dir)
	if err != nil {
		return nil, err
	}
	if err := load(ctx, m); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// KMC is a test KMC: its key and KMCID (the keyload.Module that issues
// its Key Load Files) and its one-line PK.ECDH.1.
type KMC struct {
	keyload.Module
	Record string
}

// NewKMC makes the test KMC whose key is keyagree.TestKey(label), KMCID
// vendor:id (key time 2025-01-01), its PK.ECDH.1 valid until expiry.
func NewKMC(label, vendor, id string, expiry time.Time) (KMC, error) {
	key, err := keyagree.TestKey(label)
	if err != nil {
		return KMC{}, err
	}
	kmcid, err := records.NewPKID(records.KMCID, vendor, id, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), key.PublicKey())
	if err != nil {
		return KMC{}, err
	}
	body, err := (&records.PKECDH{KMCID: kmcid, PublicKey: key.PublicKey(), Expiry: expiry}).Format()
	if err != nil {
		return KMC{}, err
	}
	return KMC{Module: keyload.Module{Key: key, PKID: kmcid}, Record: body}, nil
}

// New initialises a test module of the vending variant in dir (which must
// be empty or absent) and opens it, with no KMC key and no register. The
// caller closes the module.
func New(ctx context.Context, dir string) (*sm.Module, error) {
	if _, err := sm.Init(ctx, dir, sm.Vending, true, sm.Options{}); err != nil {
		return nil, err
	}
	return sm.Open(ctx, dir, sm.Options{})
}

func load(ctx context.Context, m *sm.Module) error {
	now := time.Now().UTC()
	kmc, slot, req, err := Waiting(ctx, m)
	if err != nil {
		return err
	}
	v := vendingKey(int(Register.SGC), now)
	klf, err := keyload.Issue(kmc.Module, req, []keyload.VendingKey{v}, now, nil)
	if err != nil {
		return err
	}
	_, err = m.LoadKLF(ctx, sm.Officer.As("apitest"), slot, klf)
	return err
}

// Waiting installs the test KMC's key (valid five years) into the first
// free KEK slot of m and makes the slot's request, as an officer: the
// slot waits for the Key Load File that answers req (KeyLoadFile).
func Waiting(ctx context.Context, m *sm.Module) (kmc KMC, slot int, req *records.VKLoadReq, err error) {
	officer := sm.Officer.As("apitest")
	if kmc, err = NewKMC("sts-test-kmc", "TestKMC", "K0001", time.Now().UTC().AddDate(5, 0, 0)); err != nil {
		return kmc, 0, nil, err
	}
	s, err := m.InstallSlot(ctx, officer, sm.InstallRequest{Record: kmc.Record, Fingerprint: records.Fingerprint(kmc.Record).String(), TestKMC: true})
	if err != nil {
		return kmc, 0, nil, err
	}
	if req, err = m.Request(ctx, officer, s.Number); err != nil {
		return kmc, 0, nil, err
	}
	reqBody, err := req.Format()
	if err != nil {
		return kmc, 0, nil, err
	}
	req, err = records.ParseVKLoadReq(reqBody) // as the KMC reads it
	return kmc, s.Number, req, err
}

// KeyLoadFile is kmc's Key Load File answering req, as a file of records
// with CRLF line ends (as the KMC sends it, and a browser's text area
// posts it): n fresh vending keys like Register's, of supply groups sgc,
// sgc+1, ….
func KeyLoadFile(kmc KMC, req *records.VKLoadReq, sgc, n int) (string, error) {
	now := time.Now().UTC()
	keys := make([]keyload.VendingKey, n)
	for i := range keys {
		keys[i] = vendingKey(sgc+i, now)
	}
	bodies, err := keyload.Issue(kmc.Module, req, keys, now, nil)
	if err != nil {
		return "", err
	}
	file, err := armor.File(bodies...)
	return string(file), err
}

// vendingKey is a fresh key of Register's attributes but supply group
// sgc, valid a year either side of now, with an unlimited credit limit.
func vendingKey(sgc int, now time.Time) keyload.VendingKey {
	vkey := make([]byte, dkga.DKGA04.VendingKeySize())
	rand.Read(vkey)
	return keyload.VendingKey{SGC: sgc, KRN: int(Register.KRN), KT: int(Register.KT), BDT: int(sts.BaseDate2014),
		DKGA: int(dkga.DKGA04), EA: int(sts.EA11), KEN: 255,
		ACT: now.AddDate(-1, 0, 0), IUT: now.AddDate(1, 0, 0), CLM: 0xFFFFFFFF, Key: vkey}
}

// PAN returns a valid PAN for meter number i (IIN 600727).
func PAN(i int) sts.PAN {
	drn := []byte(fmt.Sprintf("%010d", i%10_000_000_000))
	d, err := sts.LuhnDigit(string(drn))
	if err != nil {
		panic(err)
	}
	p, err := sts.NewPAN("600727", string(drn)+string(d))
	if err != nil {
		panic(err)
	}
	return p
}

// Meter names meter i on Register with tariff index 1.
func Meter(i int) sm.MeterKey {
	return sm.MeterKey{PAN: PAN(i), TI: 1, RegisterKey: Register}
}
