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
	officer := sm.Officer.As("apitest")
	now := time.Now().UTC()
	kmc, err := NewKMC("sts-test-kmc", "TestKMC", "K0001", now.AddDate(5, 0, 0))
	if err != nil {
		return err
	}
	body := kmc.Record
	slot, err := m.InstallSlot(ctx, officer, sm.InstallRequest{Record: body, Fingerprint: records.Fingerprint(body).String(), TestKMC: true})
	if err != nil {
		return err
	}
	req, err := m.Request(ctx, officer, slot.Number)
	if err != nil {
		return err
	}
	reqBody, err := req.Format()
	if err != nil {
		return err
	}
	parsed, err := records.ParseVKLoadReq(reqBody)
	if err != nil {
		return err
	}
	vkey := make([]byte, dkga.DKGA04.VendingKeySize())
	rand.Read(vkey)
	v := keyload.VendingKey{SGC: int(Register.SGC), KRN: int(Register.KRN), KT: int(Register.KT), BDT: int(sts.BaseDate2014),
		DKGA: int(dkga.DKGA04), EA: int(sts.EA11), KEN: 255,
		ACT: now.AddDate(-1, 0, 0), IUT: now.AddDate(1, 0, 0), CLM: 0xFFFFFFFF, Key: vkey}
	klf, err := keyload.Issue(kmc.Module, parsed, []keyload.VendingKey{v}, now, nil)
	if err != nil {
		return err
	}
	_, err = m.LoadKLF(ctx, officer, slot.Number, klf)
	return err
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
