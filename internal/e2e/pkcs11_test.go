package e2e_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
	"github.com/stskms/stskms/sts"
)

// TestPKCS11EndToEnd: a vending module whose key custody is a SoftHSM2
// token (its ECDH private key and storage key non-extractable in the
// token) installs a test KMC's key, makes a VKLOAD.REQ.1, the KMC (package
// kmc, test mode) issues a Key Load File for it, and the module loads it;
// after a reopen with the PIN it issues a credit token under the loaded
// key.
func TestPKCS11EndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := testclock.New(t0)
		cfg, pin := softhsmtest.New(t).Token("sm-token")
		cfg.Namespace = "sm-1"

		// The module, on the token.
		dir := filepath.Join(t.TempDir(), "sm")
		opts := sm.Options{DB: db, Now: clock.Now, PKCS11: &cfg, PIN: pin, Officers: []keystore.Component{
			{Officer: "alice", Passphrase: []byte("correct horse battery")}, {Officer: "bob", Passphrase: []byte("staple tuning fork")}}}
		if _, err := sm.Init(ctx, filepath.Join(t.TempDir(), "x"), sm.Vending, true, opts); !errors.Is(err, sm.ErrInvalidRequest) {
			t.Fatalf("test module on a token: %v", err)
		}
		ident, err := sm.Init(ctx, dir, sm.Vending, false, opts)
		if err != nil {
			t.Fatal(err)
		}
		if info, err := sm.Stat(dir); err != nil || info.Custody != keystore.KindPKCS11 || info.Test {
			t.Fatalf("Stat: %+v, %v", info, err)
		}
		m := openPKCS11(t, dir, db, clock, pin)

		// The KMC, its supply group, a key, the module registered and
		// authorised.
		k, err := kmc.Init(ctx, filepath.Join(t.TempDir(), "kmc"), kmc.InitOptions{Mode: kmc.ModeTest, Actor: "officer", Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		if _, err := k.AddSupplyGroup(ctx, "officer", 123456, "group"); err != nil {
			t.Fatal(err)
		}
		vudk, err := k.GenerateVendingKey(ctx, "officer", kmc.VKAttributes{SGC: 123456, Type: kmc.VUDK, BDT: 2014, DKGA: 4, EA: 11,
			KEN: 255, ACT: t0.AddDate(-1, 0, 0), EXP: t0.AddDate(1, 0, 0), IUT: t0.AddDate(2, 0, 0), CLM: 0xFFFFFFFF})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.RegisterSM(ctx, "officer", kmc.SM{SMID: ident.SMID, PublicKey: ident.PublicKey, Model: sm.Model,
			Firmware: sm.FirmwareSTS6, Variant: kmc.Vending, Virtual: true, Emails: []string{"ops@utility.example"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Grant(ctx, "officer", ident.SMID.String(), kmc.KUA{SGC: 123456, Types: kmc.TypesOf(kmc.VUDK), Until: t0.AddDate(1, 0, 0)}); err != nil {
			t.Fatal(err)
		}
		key, err := k.CurrentKey(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// Install, request, issue, load.
		slot, err := m.InstallSlot(ctx, officer, sm.InstallRequest{Record: key.Body, Fingerprint: records.Fingerprint(key.Body).String(), TestKMC: true})
		if err != nil {
			t.Fatal(err)
		}
		req, err := m.Request(ctx, officer, slot.Number)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := req.Format()
		mail, _ := armor.Wrap(body)
		klf, err := k.IssueKLFText(ctx, "gateway", mail)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := armor.ParseFile(klf.File)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, b := range blocks {
			bodies = append(bodies, b.Body)
		}
		regs, err := m.LoadKLF(ctx, officer, slot.Number, bodies)
		if err != nil {
			t.Fatal(err)
		}
		if len(regs) != 1 || !strings.EqualFold(regs[0].KCV, vudk.KCV) || regs[0].SGC != 123456 || regs[0].KT != sts.DUTK {
			t.Fatalf("loaded %+v, want the VUDK (KCV %s)", regs, vudk.KCV)
		}

		// Reopened with the PIN, the module vends under the loaded key
		// (its sealed register opens under the token's storage key).
		m.Close()
		m = openPKCS11(t, dir, db, clock, pin)
		got, err := m.Credit(ctx, operator, sm.CreditRequest{ID: "vend-1", Meter: sm.MeterKey{PAN: pan(t), TI: 1, RegisterKey: regs[0].RegisterKey},
			Sub: sts.Electricity, Amount: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Tokens) != 1 || len(got.Tokens[0]) != 20 {
			t.Fatalf("tokens %q", got.Tokens)
		}
	})
}

// openPKCS11 opens the module in dir with the token's PIN, checks that a
// wrong or missing PIN is refused, and closes it at cleanup.
func openPKCS11(t *testing.T, dir string, db *store.DB, clock *testclock.Clock, pin []byte) *sm.Module {
	t.Helper()
	ctx := context.Background()
	for _, bad := range [][]byte{nil, []byte("wrong-pin")} {
		if _, err := sm.Open(ctx, dir, sm.Options{DB: db, Now: clock.Now, PIN: bad}); !errors.Is(err, pkcs11.ErrPIN) {
			t.Fatalf("Open with PIN %q: %v, want ErrPIN", bad, err)
		}
	}
	m, err := sm.Open(ctx, dir, sm.Options{DB: db, Now: clock.Now, PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Fault(); err != nil {
		t.Fatalf("module in error state: %v", err)
	}
	return m
}
