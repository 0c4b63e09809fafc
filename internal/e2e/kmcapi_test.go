package e2e_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/keystore/custodytest"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestEndToEndWithModule drives the KMC only through the API: a test
// security module (package sm) installs the published PK.ECDH.1 and makes
// a VKLOAD.REQ.1; the operator registers the module from it and grants it
// a supply group; the KMC issues the Key Load File for its request over
// HTTP; the module loads it and holds the vending key the KMC made, by
// KCV.
func TestEndToEndWithModule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := serveKMC(t, db)
		ctx := context.Background()
		dir := filepath.Join(t.TempDir(), "sm")
		m, err := apitest.New(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		officer := sm.Officer.As("e2e")

		var pub api.PublicKeyAnswer
		e.do("auditor", "GET", "/v1/pubkey", nil, &pub)
		slot, err := m.InstallSlot(ctx, officer, sm.InstallRequest{Record: pub.PKECDH, Fingerprint: pub.Fingerprint, TestKMC: true})
		if err != nil {
			t.Fatal(err)
		}
		req, err := m.Request(ctx, officer, slot.Number)
		if err != nil {
			t.Fatal(err)
		}
		body, err := req.Format()
		if err != nil {
			t.Fatal(err)
		}

		e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "Utility North"}, nil)
		var vk api.VendingKey
		e.do("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK",
			ACT: time.Now().Add(-time.Hour)}}, &vk)
		var reg api.SM
		e.do("operator", "POST", "/v1/sms", api.RegisterRequest{Request: body, Variant: "vending", Virtual: new(true),
			Emails: []string{"ops@utility.example"}}, &reg)
		if reg.SMID != m.Identify().SMID.String() {
			t.Fatalf("registered %s, the module is %s", reg.SMID, m.Identify().SMID)
		}
		e.do("operator", "POST", "/v1/kuas", api.GrantRequest{SM: reg.SMID, SGC: 123456, Types: []string{"VUDK"},
			Until: time.Now().AddDate(1, 0, 0)}, nil)

		var klf api.KLFAnswer
		e.do("operator", "POST", "/v1/klfs", api.IssueRequest{RequestID: "e2e-1", Request: body}, &klf)
		regs, err := m.LoadKLF(ctx, officer, slot.Number, klf.Records)
		if err != nil {
			t.Fatal(err)
		}
		if len(regs) != 1 || regs[0].SGC != 123456 || int(regs[0].KRN) != vk.KRN || regs[0].KCV != vk.KCV {
			t.Fatalf("the module loaded %+v, the KMC made %+v", regs, vk)
		}
	})
}

// kmcAPI is a test-mode KMC on a database, its API served on a loopback
// listener (plain HTTP), with its test tokens.
type kmcAPI struct {
	t      *testing.T
	tokens *api.Tokens
	url    string
}

// serveKMC sets up a test-mode KMC on db with a sealed test custody and
// the real clock (to meet a real module), and serves its API until the
// test ends.
func serveKMC(t *testing.T, db *store.DB) *kmcAPI {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	custody := custodytest.Sealed(t, filepath.Join(dir, "keystore"))
	k, err := kmc.New(ctx, kmc.Config{DB: db, Custody: custody, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Setup(ctx, "system:test", kmc.Identity{Vendor: "TestKMC", ID: "K0001", Mode: kmc.ModeTest}, 0); err != nil {
		t.Fatal(err)
	}
	tokens, err := api.InitTestTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := httpapi.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.NewHTTPServer(api.New(k, tokens, api.Options{}))
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ln) })
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return &kmcAPI{t: t, tokens: tokens, url: "http://" + ln.Addr().String()}
}

// do calls the API as the test caller of role who and fails the test on
// an error.
func (e *kmcAPI) do(who, method, path string, in, out any) {
	e.t.Helper()
	for _, te := range e.tokens.Entries {
		if te.Name == "test-"+who {
			c := &api.Client{URL: e.url, Token: te.Token}
			if err := c.Do(context.Background(), method, path, in, out); err != nil {
				e.t.Fatalf("%s %s as %s: %v", method, path, who, err)
			}
			return
		}
	}
	e.t.Fatalf("no token for %q", who)
}
