package api_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodytest"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// env is a KMC on db, set up, with its test tokens and its API served on
// a loopback listener.
type env struct {
	t      testing.TB
	ctx    context.Context
	k      *kmc.KMC
	tokens *api.Tokens
	url    string
	clock  *testclock.Clock
	hc     *http.Client
	// custody is the KMC's key custody and now its clock, for a peer.
	custody keystore.Custody
	now     func() time.Time
}

type setup struct {
	mode    kmc.Mode
	noSetup bool // the KMC's identity is not set up
	tls     bool
}

func start(t testing.TB, db *store.DB, o setup) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	custody := testCustody(t, filepath.Join(dir, "keystore"), o.mode == kmc.ModeLive)
	e := &env{t: t, ctx: ctx, clock: testclock.New(time.Now().UTC().Truncate(time.Second))}
	now := e.clock.Now
	e.custody, e.now = custody, now
	var err error
	if e.k, err = kmc.New(ctx, kmc.Config{DB: db, Custody: custody, Now: now}); err != nil {
		t.Fatal(err)
	}
	if !o.noSetup {
		if _, err := e.k.Setup(ctx, "system:test", kmc.Identity{Vendor: "TestKMC", ID: "K0001", Mode: o.mode}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if e.tokens, err = api.InitTestTokens(dir); err != nil {
		t.Fatal(err)
	}
	var cfg *tls.Config
	if o.tls {
		certFile, keyFile, hc := httpapitest.SelfSigned(t, dir)
		e.hc = hc
		if cfg, err = httpapi.TLSConfig(certFile, keyFile); err != nil {
			t.Fatal(err)
		}
	}
	e.serve(cfg)
	return e
}

// testCustody makes a sealed test store in dir, locked at cleanup: as a
// live custody if live.
func testCustody(t testing.TB, dir string, live bool) keystore.Custody {
	t.Helper()
	sealed := custodytest.Sealed(t, dir)
	if live {
		return custodytest.Live(sealed)
	}
	return sealed
}

// serve serves the API of e.k on a loopback listener, with TLS if cfg is
// not nil, and sets e.url.
func (e *env) serve(cfg *tls.Config) {
	e.t.Helper()
	ln, err := httpapi.Listen("127.0.0.1:0", cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httpapi.NewHTTPServer(api.New(e.k, e.tokens, api.Options{Now: e.clock.Now}))
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ln) })
	e.t.Cleanup(func() { srv.Close(); wg.Wait() })
	e.url = map[bool]string{false: "http://", true: "https://"}[cfg != nil] + ln.Addr().String()
}

// peer returns another KMC process on db (the same database as e's, or
// another connection to it) with e's custody, clock and tokens, serving
// its own API: a restarted or a second node.
func (e *env) peer(db *store.DB) *env {
	e.t.Helper()
	p := *e
	var err error
	if p.k, err = kmc.New(e.ctx, kmc.Config{DB: db, Custody: e.custody, Now: e.now}); err != nil {
		e.t.Fatal(err)
	}
	p.serve(nil)
	return &p
}

// as returns a client with the token of a role's test caller ("officer2"
// for the second officer).
func (e *env) as(who string) *api.Client {
	for _, te := range e.tokens.Entries {
		if te.Name == "test-"+who || (who == "officer2" && te.Name == "test-officer-2") {
			return &api.Client{URL: e.url, Token: te.Token, HTTP: e.hc}
		}
	}
	e.t.Fatalf("no token for %q", who)
	return nil
}

// do calls the API as who and fails the test on an error.
func (e *env) do(who, method, path string, in, out any) {
	e.t.Helper()
	if err := e.as(who).Do(e.ctx, method, path, in, out); err != nil {
		e.t.Fatalf("%s %s as %s: %v", method, path, who, err)
	}
}

// refused checks that err is a refusal with this HTTP status and code.
func refused(t *testing.T, what string, err error, status int, code kmc.Code) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s: err = %v, want HTTP %d %s", what, err, status, code)
	}
	if se.Status != status || se.Body.Code != code || se.Body.Error == "" {
		t.Fatalf("%s: HTTP %d %s %q, want HTTP %d %s", what, se.Status, se.Body.Code, se.Body.Error, status, code)
	}
}

// testSM is a stand-in security module with a public test key.
type testSM struct{ mod keyload.Module }

func newTestSM(t testing.TB, label, id string) *testSM {
	t.Helper()
	key, pkid := testparty.Module(t, label, id)
	return &testSM{mod: keyload.Module{Key: key, PKID: pkid}}
}

// request is the module's VKLOAD.REQ.1 for the KMC's published key at
// time at, in Record-in-Email form.
func (s *testSM) request(e *env, at time.Time) (string, *records.PKECDH, *records.VKLoadReq) {
	e.t.Helper()
	var pub api.PublicKeyAnswer
	e.do("auditor", "GET", "/v1/pubkey", nil, &pub)
	pk, err := records.ParsePKECDH(pub.PKECDH)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := keyload.NewRequest(s.mod, pk, at, "Test-SSM-1", "SSM1V100")
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := req.Format()
	if err != nil {
		e.t.Fatal(err)
	}
	text, err := armor.Wrap(body)
	if err != nil {
		e.t.Fatal(err)
	}
	return "Please send my keys.\r\n\r\n" + string(text), pk, req
}

// open opens a Key Load File on the module's side.
func (s *testSM) open(t *testing.T, pk *records.PKECDH, req *records.VKLoadReq, klf api.KLFAnswer) []keyload.VendingKey {
	t.Helper()
	keys, err := keyload.Open(s.mod, keyload.Pending{KMC: pk, RequestTime: req.Time}, klf.Records)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// register registers s through the API as a virtual vending module.
func (e *env) register(s *testSM) api.SM {
	e.t.Helper()
	text, _, _ := s.request(e, e.clock.Now())
	var m api.SM
	e.do("operator", "POST", "/v1/sms", api.RegisterRequest{Request: text, Variant: "vending", Virtual: new(true),
		Emails: []string{"ops@utility.example"}}, &m)
	return m
}

// world adds supply group 123456 with a VUDK and grants s its VUDKs.
func (e *env) world(s *testSM) api.VendingKey {
	e.t.Helper()
	e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "Utility North"}, nil)
	var vk api.VendingKey
	e.do("officer", "POST", "/v1/vending-keys", api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK",
		ACT: e.clock.Now().Add(-time.Hour)}}, &vk)
	e.register(s)
	e.do("operator", "POST", "/v1/kuas", api.GrantRequest{SM: s.mod.PKID.String(), SGC: 123456, Types: []string{"VUDK"},
		Until: e.clock.Now().AddDate(1, 0, 0)}, nil)
	return vk
}
