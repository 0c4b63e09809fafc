package kmc_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
)

// importParts are two components whose XOR is the key of KCV D5D44F
// (kms-records.md §3.5), entered under the officer names given.
func importParts(t *testing.T, first, second string) []kmc.KeyComponent {
	t.Helper()
	key := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}
	c1 := []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}
	c2 := make([]byte, 8)
	for i := range c2 {
		c2[i] = key[i] ^ c1[i]
	}
	return []kmc.KeyComponent{component(t, first, c1), component(t, second, c2)}
}

// importAttrs are the attributes of importParts's key.
func importAttrs() kmc.VKAttributes {
	a := attrs(123456, kmc.VUDK)
	a.DKGA, a.EA = 2, 7
	a.ACT, a.EXP, a.IUT = time.Now().Add(-time.Hour).UTC().Truncate(time.Second), time.Now().AddDate(1, 0, 0).UTC().Truncate(time.Second), time.Time{}
	a.IUT = a.EXP
	return a
}

// importAudit returns the officers of every vk.import record of k's log.
func importAudit(t *testing.T, k *kmc.KMC) [][]string {
	t.Helper()
	var got [][]string
	err := k.AuditLog().Records(context.Background(), 1, func(r audit.Record) error {
		if r.Action != "vk.import" {
			return nil
		}
		b, err := json.Marshal(r.Details)
		if err != nil {
			return err
		}
		var d struct {
			Officers []string `json:"officers"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return err
		}
		got = append(got, d.Officers)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// openLiveGroup opens a new live KMC whose officers are alice and bob
// (initLiveKMC), with supply group 123456; it is closed at cleanup.
func openLiveGroup(t *testing.T) (context.Context, *kmc.KMC) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "kmc")
	initLiveKMC(t, dir)
	k, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{Officers: liveOfficers()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	if _, err := k.AddSupplyGroup(ctx, actor, 123456, "group"); err != nil {
		t.Fatal(err)
	}
	return ctx, k
}

// TestImportNamesRegisteredOfficers is the scenario: on a live KMC
// whose officers are alice and bob, `vk import --component mallory=…
// --component eve=…` is refused naming both, one officer twice is
// refused, and nothing is imported or audited; alice and bob's import
// goes through and the audit names them.
func TestImportNamesRegisteredOfficers(t *testing.T) {
	ctx, k := openLiveGroup(t)
	if got := k.Officers(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("Officers = %v", got)
	}
	a := importAttrs()
	_, err := k.ImportVendingKey(ctx, actor, a, importParts(t, "mallory", "eve"), nil)
	if !errors.Is(err, kmc.ErrUnknownOfficer) || !strings.Contains(err.Error(), `"mallory", "eve"`) {
		t.Errorf("mallory and eve: %v", err)
	}
	if _, err := k.ImportVendingKey(ctx, actor, a, importParts(t, "alice", "mallory"), nil); !errors.Is(err, kmc.ErrUnknownOfficer) ||
		strings.Contains(err.Error(), `"alice",`) {
		t.Errorf("alice and mallory: %v", err)
	}
	if _, err := k.ImportVendingKey(ctx, actor, a, importParts(t, "alice", "alice"), nil); !errors.Is(err, kmc.ErrDualControl) {
		t.Errorf("alice twice: %v", err)
	}
	if keys, err := k.VendingKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("after the refusals: %d keys, %v", len(keys), err)
	}
	if got := importAudit(t, k); len(got) != 0 {
		t.Fatalf("refusals audited as imports: %v", got)
	}
	if _, err := k.ImportVendingKey(ctx, actor, a, importParts(t, "alice", "bob"), nil); err != nil {
		t.Fatal(err)
	}
	if got := importAudit(t, k); len(got) != 1 || !slices.Equal(got[0], []string{"alice", "bob"}) {
		t.Errorf("audited officers %v, want [[alice bob]]", got)
	}
}

// TestPendingImportNamesRegisteredOfficers: the API's imports (one
// component per officer, each under its own credential) refuse a part
// from a name not registered, at start and after, and keep the import as
// it was.
func TestPendingImportNamesRegisteredOfficers(t *testing.T) {
	ctx, k := openLiveGroup(t)
	now := time.Now()
	a := importAttrs()
	mallory := importParts(t, "mallory", "eve")
	if _, err := k.StartImport(ctx, "officer:mallory", a, 2, nil, mallory[0], now, now.Add(time.Hour)); !errors.Is(err, kmc.ErrUnknownOfficer) {
		t.Errorf("start by mallory: %v", err)
	}
	parts := importParts(t, "alice", "eve")
	p, err := k.StartImport(ctx, "officer:alice", a, 2, nil, parts[0], now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := k.AddImportComponent(ctx, "officer:eve", p.ID, parts[1], now); !errors.Is(err, kmc.ErrUnknownOfficer) {
		t.Errorf("component of eve: %v", err)
	}
	pending, err := k.PendingImports(ctx, now)
	if err != nil || len(pending) != 1 || !slices.Equal(pending[0].Officers, []string{"alice"}) {
		t.Fatalf("pending after the refusal: %+v, %v", pending, err)
	}
	if keys, _ := k.VendingKeys(ctx); len(keys) != 0 {
		t.Fatalf("%d keys imported", len(keys))
	}
}

// TestAuthenticateOfficers: each officer proves their part with their own
// passphrase; a wrong one or an unknown officer is refused, naming the
// officer.
func TestAuthenticateOfficers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kmc")
	initLiveKMC(t, dir)
	names, err := kmc.AuthenticateOfficers(dir, liveOfficers())
	if err != nil || !slices.Equal(names, []string{"alice", "bob"}) {
		t.Fatalf("AuthenticateOfficers = %v, %v", names, err)
	}
	wrong := liveOfficers()
	wrong[1].Passphrase = []byte("correct horse battery")
	var oe *keystore.OfficerError
	if _, err := kmc.AuthenticateOfficers(dir, wrong); !errors.Is(err, keystore.ErrBadPassphrase) || !errors.As(err, &oe) || oe.Officer != "bob" {
		t.Errorf("bob with alice's passphrase: %v", err)
	}
	mallory := []keystore.Component{{Officer: "mallory", Passphrase: []byte("correct horse battery")}}
	if _, err := kmc.AuthenticateOfficers(dir, mallory); !errors.Is(err, keystore.ErrUnknownOfficer) {
		t.Errorf("mallory: %v", err)
	}
}

// TestPKCS11Officers: a live KMC on a PKCS#11 token registers its officers
// at init (at least two, as for the sealed store), names and
// authenticates them through the same API, and refuses mallory and eve.
func TestPKCS11Officers(t *testing.T) {
	ctx := context.Background()
	cfg, pin := kmcToken(t)
	dir := filepath.Join(t.TempDir(), "kmc")
	if _, err := kmc.Init(ctx, filepath.Join(t.TempDir(), "x"), kmc.InitOptions{Mode: kmc.ModeLive, Vendor: "U", ID: "K1",
		PKCS11: &cfg, PIN: pin}); !errors.Is(err, keystore.ErrOfficers) {
		t.Errorf("PKCS#11 KMC without officers: %v", err)
	}
	initLiveKMCWith(t, dir, kmc.InitOptions{PKCS11: &cfg, PIN: pin})
	wrong := liveOfficers()
	wrong[0].Passphrase = []byte("staple tuna mirror 42")
	if _, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{PIN: pin, Officers: wrong}); !errors.Is(err, keystore.ErrBadPassphrase) {
		t.Errorf("open with a wrong officer passphrase: %v", err)
	}
	k, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if got := k.Officers(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("Officers = %v", got)
	}
	if _, err := kmc.AuthenticateOfficers(dir, liveOfficers()); err != nil {
		t.Errorf("AuthenticateOfficers: %v", err)
	}
	if _, err := k.AddSupplyGroup(ctx, actor, 123456, "group"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.ImportVendingKey(ctx, actor, importAttrs(), importParts(t, "mallory", "eve"), nil); !errors.Is(err, kmc.ErrUnknownOfficer) {
		t.Errorf("mallory and eve: %v", err)
	}
	if keys, _ := k.VendingKeys(ctx); len(keys) != 0 {
		t.Fatalf("%d keys imported", len(keys))
	}
	if _, err := k.ImportVendingKey(ctx, actor, importAttrs(), importParts(t, "alice", "bob"), nil); err != nil {
		t.Fatal(err)
	}
	if got := importAudit(t, k); len(got) != 1 || !slices.Equal(got[0], []string{"alice", "bob"}) {
		t.Errorf("audited officers %v", got)
	}
}
