package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// startLive serves a live KMC whose custody registers the officers
// test-officer-1 and test-officer-2, with a token file that also holds an
// officer token of mallory, who is not registered.
func startLive(t *testing.T, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	ks := filepath.Join(dir, "keystore")
	e := &env{t: t, ctx: ctx, clock: testclock.New(time.Now().UTC().Truncate(time.Second)), custody: testCustody(t, ks, true)}
	e.now = e.clock.Now
	var err error
	if e.k, err = kmc.New(ctx, kmc.Config{DB: db, Custody: e.custody, Now: e.now, KeepDir: ks}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.k.Setup(ctx, "system:test", kmc.Identity{Vendor: "Utility", ID: "K0042", Mode: kmc.ModeLive}, 0); err != nil {
		t.Fatal(err)
	}
	f := httpapi.TokenFile{Format: "stskms-kmc-api-tokens/1"}
	for _, n := range []string{"test-officer-1", "test-officer-2", "mallory"} {
		f.Tokens = append(f.Tokens, httpapi.TokenEntry{Token: n + "-token-0123456789abcdef", Role: "officer", Name: n})
	}
	f.Tokens = append(f.Tokens, httpapi.TokenEntry{Token: "operator-token-0123456789", Role: "operator", Name: "olga"})
	b, _ := json.Marshal(f)
	path := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if e.tokens, err = api.LoadTokensFile(path); err != nil {
		t.Fatal(err)
	}
	e.serve(nil)
	return e
}

// client returns a client with the token of the caller named name.
func (e *env) client(name string) *api.Client {
	for _, te := range e.tokens.Entries {
		if te.Name == name {
			return &api.Client{URL: e.url, Token: te.Token, HTTP: e.hc}
		}
	}
	e.t.Fatalf("no token for %q", name)
	return nil
}

// TestOfficerTokensRegistered: a live KMC refuses at start a token file
// whose officer tokens name an unregistered officer, naming them; and
// the import handlers refuse a component posted under such a token (403
// EUnknownOfficer), at start and as a further component, leaving no key
// and the pending import as it was.
func TestOfficerTokensRegistered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startLive(t, db)
		err := api.CheckOfficerTokens(e.tokens, e.k.Officers())
		if err == nil || !strings.Contains(err.Error(), `"mallory"`) || strings.Contains(err.Error(), `"test-officer-1",`) ||
			strings.Contains(err.Error(), "token-0123") {
			t.Errorf("CheckOfficerTokens = %v", err)
		}
		if err := e.client("olga").Do(e.ctx, "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "g"}, nil); err != nil {
			t.Fatal(err)
		}
		c1, c2, kcv := twoComponents(t)
		start := api.StartImportRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VCDK"}, KCV: kcv, Component: c1}
		err = e.client("mallory").Do(e.ctx, "POST", "/v1/vending-keys/imports", start, nil)
		refused(t, "import started by mallory", err, http.StatusForbidden, api.EUnknownOfficer)

		var imp api.ImportAnswer
		if err := e.client("test-officer-1").Do(e.ctx, "POST", "/v1/vending-keys/imports", start, &imp); err != nil {
			t.Fatal(err)
		}
		path := "/v1/vending-keys/imports/" + imp.ID + "/components"
		err = e.client("mallory").Do(e.ctx, "POST", path, api.ComponentRequest{Component: c2}, nil)
		refused(t, "component of mallory", err, http.StatusForbidden, api.EUnknownOfficer)
		err = e.client("test-officer-1").Do(e.ctx, "POST", path, api.ComponentRequest{Component: c2}, nil)
		refused(t, "second component of the same officer", err, http.StatusConflict, api.EDualControl)

		var list api.ImportsAnswer
		if err := e.client("test-officer-2").Do(e.ctx, "GET", "/v1/vending-keys/imports", nil, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Imports) != 1 || !slices.Equal(list.Imports[0].Officers, []string{"test-officer-1"}) {
			t.Fatalf("pending after the refusals: %+v", list)
		}
		if keys, _ := e.k.VendingKeys(e.ctx); len(keys) != 0 {
			t.Fatalf("%d keys after the refusals", len(keys))
		}
		var done api.ImportAnswer
		if err := e.client("test-officer-2").Do(e.ctx, "POST", path, api.ComponentRequest{Component: c2}, &done); err != nil {
			t.Fatal(err)
		}
		if done.State != "complete" || !slices.Equal(done.Officers, []string{"test-officer-1", "test-officer-2"}) {
			t.Fatalf("completed = %+v", done)
		}
	})
}

// TestOfficerTokensTestKMC: a test KMC registers no officers, and its
// TEST-ONLY tokens pass the check.
func TestOfficerTokensTestKMC(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		if err := api.CheckOfficerTokens(e.tokens, e.k.Officers()); err != nil {
			t.Errorf("test KMC: %v", err)
		}
	})
}
