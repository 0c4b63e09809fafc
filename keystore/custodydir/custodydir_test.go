package custodydir_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodydir"
	"github.com/stskms/stskms/keystore/pkcs11"
	"github.com/stskms/stskms/keystore/pkcs11/softhsmtest"
)

func officers() []keystore.Component {
	return []keystore.Component{
		{Officer: "alice", Passphrase: []byte("correct horse battery staple")},
		{Officer: "bob", Passphrase: []byte("tuna mirror forty-two lamps")},
	}
}

// roundTrip makes a key in c, locks it, opens dir as kind with s and
// checks the key is there; it returns the reopened custody, locked at
// cleanup.
func roundTrip(t *testing.T, c keystore.Custody, dir, kind string, s custodydir.Spec) keystore.Custody {
	t.Helper()
	ctx := context.Background()
	pub, err := c.GenerateECDH(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	c.Lock()
	again, err := custodydir.Open(dir, kind, s)
	if err != nil {
		t.Fatalf("Open %q: %v", kind, err)
	}
	t.Cleanup(again.Lock)
	if got, err := again.PublicKey(ctx, "k1"); err != nil || !got.Equal(pub) {
		t.Fatalf("key after reopening: %v", err)
	}
	if k := custodydir.Kind(again); k != kind {
		t.Fatalf("Kind %q, want %q", k, kind)
	}
	return again
}

// TestSealedCustody: the sealed store is split among the officers, recorded as
// KindSealed and opens only with every officer.
func TestSealedCustody(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keystore")
	s := custodydir.Spec{Officers: officers()}
	c, kind, err := custodydir.Init(dir, s)
	if err != nil || kind != keystore.KindSealed || c.TestMode() {
		t.Fatalf("Init: %q, %v", kind, err)
	}
	roundTrip(t, c, dir, kind, s)
	if _, err := custodydir.Open(dir, "", custodydir.Spec{Officers: officers()[:1]}); !errors.Is(err, keystore.ErrQuorum) {
		t.Fatalf("Open with one officer of two: %v", err)
	}
	if _, err := custodydir.Open(dir, kind, custodydir.Spec{Test: true}); !errors.Is(err, keystore.ErrNotTestStore) {
		t.Fatalf("a production store opened as a test one: %v", err)
	}
}

// TestTestCustody: the TEST-ONLY store says so, and opens from its file.
func TestTestCustody(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keystore")
	c, kind, err := custodydir.Init(dir, custodydir.Spec{Test: true, Officers: officers()})
	if err != nil || kind != keystore.KindSealed || !c.TestMode() {
		t.Fatalf("Init: %q, %v", kind, err)
	}
	if again := roundTrip(t, c, dir, kind, custodydir.Spec{Test: true}); !again.TestMode() {
		t.Fatal("reopened test store not in test mode")
	}
}

// TestPKCS11Custody: a token custody keeps its configuration in the directory,
// is recorded as KindPKCS11, opens with the PIN alone and refuses a wrong
// one.
func TestPKCS11Custody(t *testing.T) {
	cfg, pin := softhsmtest.New(t).Token("custodydir")
	dir := filepath.Join(t.TempDir(), "keystore")
	c, kind, err := custodydir.Init(dir, custodydir.Spec{PKCS11: &cfg, PIN: pin, Officers: officers()})
	if err != nil || kind != keystore.KindPKCS11 || custodydir.Kind(c) != keystore.KindPKCS11 {
		t.Fatalf("Init: %q, %v", kind, err)
	}
	if kept, err := pkcs11.LoadConfig(filepath.Join(dir, pkcs11.ConfigFileName)); err != nil || kept != cfg {
		t.Fatalf("kept configuration %+v, %v", kept, err)
	}
	again := roundTrip(t, c, dir, kind, custodydir.Spec{PIN: pin, Officers: officers()})
	again.Lock()
	if _, err := custodydir.Open(dir, kind, custodydir.Spec{PIN: []byte("wrong-pin-4242")}); !errors.Is(err, pkcs11.ErrPIN) {
		t.Fatalf("wrong PIN: %v", err)
	}
}

// TestRefusedBeforeMaking: what Init would refuse is refused by Check and
// by Init before anything is made in the directory.
func TestRefusedBeforeMaking(t *testing.T) {
	cfg := pkcs11.Config{Module: "/nonexistent/libpkcs11.so", TokenLabel: "t", Namespace: "n"}
	for name, tt := range map[string]struct {
		spec custodydir.Spec
		want error
	}{
		"test in a token": {custodydir.Spec{Test: true, PKCS11: &cfg, PIN: []byte("1234-5678")}, custodydir.ErrKind},
		"one officer":     {custodydir.Spec{Officers: officers()[:1]}, keystore.ErrOfficers},
		"no officers":     {custodydir.Spec{}, keystore.ErrOfficers},
		"no PIN":          {custodydir.Spec{PKCS11: &cfg}, pkcs11.ErrPIN},
		"short PIN":       {custodydir.Spec{PKCS11: &cfg, PIN: []byte("123")}, pkcs11.ErrPIN},
	} {
		if err := custodydir.Check(tt.spec); !errors.Is(err, tt.want) {
			t.Errorf("%s: Check: %v, want %v", name, err, tt.want)
		}
		dir := filepath.Join(t.TempDir(), "keystore")
		if c, _, err := custodydir.Init(dir, tt.spec); !errors.Is(err, tt.want) || c != nil {
			t.Errorf("%s: Init: %v, want %v", name, err, tt.want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: Init made %s: %v", name, dir, err)
		}
	}
}

// TestWrongKind: a kind this binary does not know is refused, and a
// recorded kind altered to the other one opens nothing (the other
// custody's files are not there).
func TestWrongKind(t *testing.T) {
	if err := custodydir.CheckKind("vault"); !errors.Is(err, custodydir.ErrKind) {
		t.Errorf("CheckKind: %v", err)
	}
	for _, k := range []string{"", keystore.KindSealed, keystore.KindPKCS11} {
		if err := custodydir.CheckKind(k); err != nil {
			t.Errorf("CheckKind(%q): %v", k, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "keystore")
	c, _, err := custodydir.Init(dir, custodydir.Spec{Officers: officers()})
	if err != nil {
		t.Fatal(err)
	}
	c.Lock()
	if c, err := custodydir.Open(dir, "vault", custodydir.Spec{Officers: officers()}); !errors.Is(err, custodydir.ErrKind) || c != nil {
		t.Errorf("unknown kind: %v", err)
	}
	if c, err := custodydir.Open(dir, keystore.KindPKCS11, custodydir.Spec{PIN: []byte("1234-5678")}); !errors.Is(err, pkcs11.ErrConfig) || c != nil {
		t.Errorf("a sealed store opened as a token: %v", err)
	}
	if c, err := custodydir.Open(t.TempDir(), keystore.KindSealed, custodydir.Spec{Officers: officers()}); !errors.Is(err, keystore.ErrNoStore) || c != nil {
		t.Errorf("a directory without a store: %v", err)
	}
}
