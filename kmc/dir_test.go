package kmc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestInitTestDir: a test-mode KMC in a directory, reopened without any
// prompt, keeps its identity and key.
func TestInitTestDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "kmc")
	k, err := kmc.Init(ctx, dir, kmc.InitOptions{Mode: kmc.ModeTest, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := k.CurrentKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if key.KMCID.Vendor != "TestKMC" || key.KMCID.ID != "K0001" {
		t.Errorf("KMCID %s", key.KMCID)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{kmc.ConfigFile, kmc.DefaultDBFile, filepath.Join(kmc.KeystoreDir, "TEST-ONLY-unlock.json")} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	if m, err := kmc.DirMode(dir); err != nil || m != kmc.ModeTest {
		t.Errorf("DirMode: %v %v", m, err)
	}
	k, err = kmc.OpenDir(ctx, dir, kmc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	again, err := k.CurrentKey(ctx)
	if err != nil || again.Body != key.Body || k.Mode() != kmc.ModeTest {
		t.Fatalf("reopened: %v %v", again.KMCID, err)
	}
	if _, err := kmc.Init(ctx, dir, kmc.InitOptions{Mode: kmc.ModeTest}); !errors.Is(err, kmc.ErrExists) {
		t.Errorf("Init over a KMC: %v", err)
	}
	if _, err := kmc.OpenDir(ctx, t.TempDir(), kmc.OpenOptions{}); !errors.Is(err, kmc.ErrNoIdentity) {
		t.Errorf("OpenDir of an empty directory: %v", err)
	}
}

// TestInitLiveDir: a live KMC's custody needs every officer (real
// Argon2id), refuses the test unlock, and a live KMC cannot run on a test
// custody nor a test KMC on a production one.
func TestInitLiveDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "kmc")
	if _, err := kmc.Init(ctx, filepath.Join(t.TempDir(), "x"), kmc.InitOptions{Mode: kmc.ModeLive, Officers: liveOfficers()}); !errors.Is(err, kmc.ErrInvalid) {
		t.Errorf("live KMC without vendor and id: %v", err)
	}
	k, err := kmc.Init(ctx, dir, kmc.InitOptions{Mode: kmc.ModeLive, Vendor: "Utility", ID: "K0042", Officers: liveOfficers()})
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	if _, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{}); !errors.Is(err, kmc.ErrMode) {
		t.Errorf("live KMC without officers: %v", err)
	}
	if _, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{Officers: liveOfficers()[:1]}); !errors.Is(err, keystore.ErrQuorum) {
		t.Errorf("live KMC with one officer: %v", err)
	}
	// Edit kmc.json to claim test mode: the custody is not a test store.
	cfg, _ := os.ReadFile(filepath.Join(dir, kmc.ConfigFile))
	os.WriteFile(filepath.Join(dir, kmc.ConfigFile), []byte(strings.Replace(string(cfg), `"live"`, `"test"`, 1)), 0o600)
	if _, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{}); !errors.Is(err, keystore.ErrNotTestStore) {
		t.Errorf("live KMC opened as a test one: %v", err)
	}
	os.WriteFile(filepath.Join(dir, kmc.ConfigFile), cfg, 0o600)
	k, err = kmc.OpenDir(ctx, dir, kmc.OpenOptions{Officers: liveOfficers()})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if id, _ := k.Identity(); id.Mode != kmc.ModeLive || id.Vendor != "Utility" {
		t.Errorf("identity %+v", id)
	}
}

// TestModeMismatch: the KMC's recorded mode must match its custody's.
func TestModeMismatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, kmc.ModeLive) // a live KMC on a "production" custody
		sealed := w.sealed
		if _, err := kmc.New(w.ctx, kmc.Config{DB: db, Custody: sealed}); !errors.Is(err, kmc.ErrMode) {
			t.Fatalf("live KMC on a test custody: %v", err)
		}
		k, err := kmc.New(w.ctx, kmc.Config{DB: storetest.Reopen(t, db), Custody: w.custody})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Setup(w.ctx, actor, kmc.Identity{Vendor: "A", ID: "B", Mode: kmc.ModeLive}, 0); !errors.Is(err, kmc.ErrExists) {
			t.Errorf("second setup: %v", err)
		}
		k2, err := kmc.New(w.ctx, kmc.Config{DB: openFresh(t), Custody: sealed})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k2.Setup(w.ctx, actor, kmc.Identity{Vendor: "A", ID: "B", Mode: kmc.ModeLive}, 0); !errors.Is(err, kmc.ErrMode) {
			t.Errorf("live setup on a test custody: %v", err)
		}
		if _, err := k2.Setup(w.ctx, actor, kmc.Identity{Vendor: "A B", ID: "B", Mode: kmc.ModeTest}, 0); !errors.Is(err, kmc.ErrInvalid) {
			t.Errorf("vendor not an IDENT: %v", err)
		}
		if _, err := k2.CurrentKey(w.ctx); !errors.Is(err, kmc.ErrNoIdentity) {
			t.Errorf("current key before setup: %v", err)
		}
	})
}

func openFresh(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "fresh.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
