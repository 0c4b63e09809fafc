package kmc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/pkcs11"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records/armor"
)

// kmcToken returns a new SoftHSM2 token for a KMC (namespace "kmc") and
// its PIN.
func kmcToken(t *testing.T) (pkcs11.Config, []byte) {
	t.Helper()
	cfg, pin := softhsmtest.New(t).Token("kmc-token")
	cfg.Namespace = "kmc"
	return cfg, pin
}

// TestLivePKCS11Dir: a live KMC whose custody is a SoftHSM2 token. Init
// records the choice; OpenDir needs the PIN (not officers); the vending
// keys sealed under the token's storage key and the KMC key pair in the
// token survive a reopen, and a Key Load File issued after it opens on a
// certified module's side with the right keys.
func TestLivePKCS11Dir(t *testing.T) {
	ctx := context.Background()
	cfg, pin := kmcToken(t)
	dir := filepath.Join(t.TempDir(), "kmc")
	clock := testclock.New(t0)

	if _, err := kmc.Init(ctx, filepath.Join(t.TempDir(), "x"), kmc.InitOptions{Mode: kmc.ModeTest, PKCS11: &cfg, PIN: pin}); !errors.Is(err, kmc.ErrMode) {
		t.Errorf("test KMC on a token: %v", err)
	}
	k, err := kmc.Init(ctx, dir, kmc.InitOptions{Mode: kmc.ModeLive, Vendor: "Utility", ID: "K0042", PKCS11: &cfg, PIN: pin,
		Officers: liveOfficers(), Actor: actor, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	key, err := k.CurrentKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddSupplyGroup(ctx, actor, 123456, "group"); err != nil {
		t.Fatal(err)
	}
	vudk, err := k.GenerateVendingKey(ctx, actor, attrs(123456, kmc.VUDK))
	if err != nil {
		t.Fatal(err)
	}
	s := newSM(t, "sts-test-sm", "94000001")
	if _, err := k.RegisterSM(ctx, actor, s.record(kmc.Vending, false, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Grant(ctx, actor, s.smid(), kmc.KUA{SGC: 123456, Types: kmc.TypesOf(kmc.VUDK), Until: t0.AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	k.Close()

	if c, err := kmc.DirCustody(dir); err != nil || c != keystore.KindPKCS11 {
		t.Fatalf("DirCustody: %q, %v", c, err)
	}
	if _, err := os.Stat(filepath.Join(dir, kmc.KeystoreDir, pkcs11.ConfigFileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{}); !errors.Is(err, pkcs11.ErrPIN) {
		t.Fatalf("OpenDir without the PIN: %v", err)
	}
	if _, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{PIN: []byte("not-the-pin")}); !errors.Is(err, pkcs11.ErrPIN) {
		t.Fatalf("OpenDir with a wrong PIN: %v", err)
	}
	k, err = kmc.OpenDir(ctx, dir, kmc.OpenOptions{PIN: pin, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if again, err := k.CurrentKey(ctx); err != nil || again.Body != key.Body || k.Mode() != kmc.ModeLive {
		t.Fatalf("reopened: %v", err)
	}

	pk := parsePublished(t, key)
	req := s.request(t, pk, t0.Add(-time.Minute))
	body, _ := req.Format()
	mail, _ := armor.Wrap(body)
	klf, err := k.IssueKLFText(ctx, "gateway", mail)
	if err != nil {
		t.Fatal(err)
	}
	keys := s.open(t, pk, req, klf)
	if len(keys) != 1 || kcvOf(t, keys[0].Key) != vudk.KCV {
		t.Fatalf("the module got %d keys, want the VUDK", len(keys))
	}
}
