package sm_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestIdentity: a module says what it is: its SMID names its key, model
// stskms-SoftSM, one 8-character firmware id per API, virtual, the variant
// it was made with and, for a test module, test mode everywhere it shows.
func TestIdentity(t *testing.T) {
	for _, v := range []sm.Variant{sm.Vending, sm.Manufacturing} {
		t.Run(v.String(), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				f := newFixture(t, db, v, func(o *sm.Options) { o.Vendor, o.ID = "TestVendor", "94000001" })
				id := f.m.Identify()
				if err := id.SMID.CheckKey(id.PublicKey); err != nil {
					t.Fatal(err)
				}
				if id.SMID.Type != records.SMID || id.SMID.Vendor != "TestVendor" || id.SMID.ID != "94000001" || !id.SMID.Time.Equal(t0) {
					t.Errorf("SMID %s", id.SMID)
				}
				if id.Variant != v || id.Model != sm.Model || !id.Virtual || !id.Test {
					t.Errorf("identity %+v", id)
				}
				for api, fw := range id.Firmware {
					if len(fw) != 8 {
						t.Errorf("firmware of %s: %q", api, fw)
					}
				}
				if id.Firmware[sm.APISTS6] != sm.FirmwareSTS6 || id.Firmware[sm.APIHTTP] != sm.FirmwareHTTP {
					t.Errorf("firmware %v", id.Firmware)
				}
				b, err := json.Marshal(id)
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range []string{`"virtual":true`, `"test":true`, `"variant":"` + v.String() + `"`, "TEST-ONLY", `"smid":"SMID.1:TestVendor:94000001:`} {
					if !strings.Contains(string(b), want) {
						t.Errorf("identity JSON lacks %s: %s", want, b)
					}
				}
				mf, err := os.ReadFile(filepath.Join(f.dir, sm.ModuleFile))
				if err != nil || !strings.Contains(string(mf), "TEST-ONLY") {
					t.Errorf("%s does not say test mode: %s", sm.ModuleFile, mf)
				}
				if _, err := os.Stat(filepath.Join(f.dir, sm.KeystoreDir, "TEST-ONLY-unlock.json")); err != nil {
					t.Errorf("test key custody: %v", err)
				}
			})
		})
	}
}

// TestVariantFixed: nothing changes a module's variant: the sealed identity
// is the authority, so a variant edited in the database or in sm.json
// makes the module refuse to open.
func TestVariantFixed(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		f.m.Close()
		ctx := context.Background()
		if _, err := f.db.Exec(ctx, `UPDATE sm_identity SET variant = 'manufacturing'`); err != nil {
			t.Fatal(err)
		}
		_, err := sm.Open(ctx, f.dir, f.opts)
		wantCode(t, err, sm.CodeExtended, sm.ErrIdentity)
		if _, err := f.db.Exec(ctx, `UPDATE sm_identity SET variant = 'vending'`); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(f.dir, sm.ModuleFile)
		b, _ := os.ReadFile(path)
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), `"vending"`, `"manufacturing"`, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = sm.Open(ctx, f.dir, f.opts)
		wantCode(t, err, sm.CodeExtended, sm.ErrIdentity)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		f.m = nil
		f.reopen()
		if f.m.Identify().Variant != sm.Vending {
			t.Fatal("variant changed")
		}
	})
}

// TestInitRefusals: Init refuses a directory in use, a database holding
// another module, and an unknown variant; Open refuses a directory
// without a module.
func TestInitRefusals(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		_, err := sm.Init(ctx, f.dir, sm.Vending, true, f.opts)
		wantCode(t, err, sm.CodeExtended, sm.ErrModuleExists)
		_, err = sm.Init(ctx, filepath.Join(t.TempDir(), "second"), sm.Manufacturing, true, f.opts)
		wantCode(t, err, sm.CodeExtended, sm.ErrModuleExists)
		if _, err := sm.Init(ctx, filepath.Join(t.TempDir(), "third"), 0, true, f.opts); err == nil {
			t.Error("variant 0 accepted")
		}
		_, err = sm.Open(ctx, t.TempDir(), f.opts)
		wantCode(t, err, sm.CodeExtended, sm.ErrNoModule)
	})
}

// TestProductionModule: a module made with officers' components unlocks
// only with all of them (dual control), is not in test mode, and keeps its
// own SQLite database in its directory.
func TestProductionModule(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sm")
	id, err := sm.Init(ctx, dir, sm.Manufacturing, false, sm.Options{Officers: releaseOfficers()})
	if err != nil {
		t.Fatal(err)
	}
	if id.Test || !id.Virtual {
		t.Fatalf("identity %+v", id)
	}
	if _, err := os.Stat(filepath.Join(dir, sm.DatabaseFile)); err != nil {
		t.Fatal(err)
	}
	_, err = sm.Open(ctx, dir, sm.Options{Officers: releaseOfficers()[:1]})
	if err == nil || !strings.Contains(err.Error(), "quorum") {
		t.Fatalf("one officer opened the module: %v", err)
	}
	m, err := sm.Open(ctx, dir, sm.Options{Officers: releaseOfficers()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Identify().Test || m.Identify().Variant != sm.Manufacturing || m.TestTables() {
		t.Fatalf("identity %+v", m.Identify())
	}
}

// TestLiveKMCList: the list ships with the seed's KMC, takes more from
// DIR/live-kmcs.txt, and keeps the seed's KMC even if the file drops it.
func TestLiveKMCList(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		if got := f.m.LiveKMCs(); len(got) != 1 || got[0] != "KMCID.1:Prism:K0001" {
			t.Fatalf("live KMCs %v", got)
		}
		path := filepath.Join(f.dir, sm.LiveKMCFile)
		if err := os.WriteFile(path, []byte("# ours\nKMCID.1:TestKMC:K0001\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f.reopen()
		if got := f.m.LiveKMCs(); len(got) != 2 {
			t.Fatalf("live KMCs %v", got)
		}
		_, err := f.m.InstallSlot(f.ctx, officer, sm.InstallRequest{Record: f.kmc.record, Fingerprint: f.kmc.fp, TestKMC: true})
		wantCode(t, err, sm.CodeExtended, sm.ErrLiveKMC)
		if err := os.WriteFile(path, []byte("not a KMCID\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f.m.Close()
		if _, err := sm.Open(f.ctx, f.dir, f.opts); err == nil {
			t.Fatal("a malformed live-KMC list was accepted")
		}
	})
}
