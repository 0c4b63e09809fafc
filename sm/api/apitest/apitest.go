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
	if _, err := sm.Init(ctx, dir, sm.Vending, true, sm.Options{}); err != nil {
		return nil, err
	}
	m, err := sm.Open(ctx, dir, sm.Options{})
	if err != nil {
		return nil, err
	}
	if err := load(ctx, m); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func load(ctx context.Context, m *sm.Module) error {
	officer := sm.Officer.As("apitest")
	key, err := keyagree.TestKey("sts-test-kmc")
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	kmcid, err := records.NewPKID(records.KMCID, "TestKMC", "K0001", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), key.PublicKey())
	if err != nil {
		return err
	}
	pk := &records.PKECDH{KMCID: kmcid, PublicKey: key.PublicKey(), Expiry: now.AddDate(5, 0, 0)}
	body, err := pk.Format()
	if err != nil {
		return err
	}
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
	kmc := keyload.Module{Key: key, PKID: kmcid}
	vkey := make([]byte, dkga.DKGA04.VendingKeySize())
	rand.Read(vkey)
	v := keyload.VendingKey{SGC: int(Register.SGC), KRN: int(Register.KRN), KT: int(Register.KT), BDT: int(sts.BaseDate2014),
		DKGA: int(dkga.DKGA04), EA: int(sts.EA11), KEN: 255,
		ACT: now.AddDate(-1, 0, 0), IUT: now.AddDate(1, 0, 0), CLM: 0xFFFFFFFF, Key: vkey}
	klf, err := keyload.Issue(kmc, parsed, []keyload.VendingKey{v}, now, nil)
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
