package api_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// officerEnv serves a test module with a register (apitest.Setup) to two
// officers, alice and bob, an operator and an auditor.
type officerEnv struct {
	m      *sm.Module
	dir    string
	url    string
	tokens map[string]string // by name
}

func startOfficers(t *testing.T) *officerEnv {
	t.Helper()
	e, tokens := officerModule(t)
	e.url = serve(t, nil, api.New(e.m, tokens))
	return e
}

// serve serves h on a loopback port, over TLS with cfg (nil: plain HTTP),
// until the test ends and returns its URL.
func serve(t testing.TB, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	ln, err := api.Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	scheme := "https://"
	if cfg == nil {
		scheme = "http://"
	}
	srv := api.NewHTTPServer(h)
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ln) })
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return scheme + ln.Addr().String()
}

// officerModule makes the module of startOfficers and its tokens.
func officerModule(t *testing.T) (*officerEnv, *api.Tokens) {
	t.Helper()
	m, dir := newModule(t)
	e := &officerEnv{m: m, dir: dir, tokens: map[string]string{}}
	var entries []api.TokenEntry
	for name, role := range map[string]string{"alice": "officer", "bob": "officer", "pos": "operator", "aud": "auditor"} {
		e.tokens[name] = "tok-" + name + "-0123456789abcdef"
		entries = append(entries, api.TokenEntry{Token: e.tokens[name], Role: role, Name: name})
	}
	tokens := writeTokens(t, dir, entries)
	return e, tokens
}

// writeTokens writes the API token file of entries into dir and loads it.
func writeTokens(t *testing.T, dir string, entries []api.TokenEntry) *api.Tokens {
	t.Helper()
	b, err := json.Marshal(map[string]any{"format": "stskms-sm-api-tokens/1", "tokens": entries})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, api.TokenFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := api.LoadTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// do calls the API as name, with the second officer second ("" none).
func (e *officerEnv) do(name, second, method, path string, in, out any) error {
	c := &api.Client{URL: e.url, Token: e.tokens[name]}
	var h []string
	if second != "" {
		h = []string{api.SecondOfficerHeader, e.tokens[second]}
	}
	return c.Do(context.Background(), method, path, in, out, h...)
}

// slotJSON is what the tests read of a slot's JSON.
type slotJSON struct {
	Number int          `json:"slot"`
	State  sm.SlotState `json:"state"`
	KMCID  string       `json:"kmcid"`
}

// otherKMC is a second test KMC (the key of keyagree.TestKey("sts-test-sm")).
func otherKMC(t *testing.T) (keyload.Module, string) {
	t.Helper()
	k, err := apitest.NewKMC("sts-test-sm", "OtherKMC", "K0002", time.Now().AddDate(2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return k.Module, k.Record
}

// TestOfficerEndpoints walks key loading over HTTP under dual control:
// install, request, load (refused when broken, all or nothing), delete.
func TestOfficerEndpoints(t *testing.T) {
	e := startOfficers(t)
	kmc, record := otherKMC(t)
	install := api.InstallRequest{Record: record, Fingerprint: records.Fingerprint(record).String(), TestKMC: true}
	// Dual control: one officer, the same officer twice, an operator as
	// the second: 403.
	for _, second := range []string{"", "alice", "pos"} {
		wantStatus(t, e.do("alice", second, "POST", "/v1/slots", install, nil), http.StatusForbidden, sm.CodeExtended)
	}
	wantStatus(t, e.do("pos", "bob", "POST", "/v1/slots", install, nil), http.StatusForbidden, sm.CodeExtended)
	var slot slotJSON
	if err := e.do("alice", "bob", "POST", "/v1/slots", install, &slot); err != nil {
		t.Fatal(err)
	}
	if slot.Number != 2 || slot.State != sm.SlotInstalled {
		t.Fatalf("installed %+v", slot)
	}
	var req api.LoadRequest
	wantStatus(t, e.do("pos", "", "POST", "/v1/slots/2/request", nil, &req), http.StatusForbidden, sm.CodeExtended)
	if err := e.do("alice", "", "POST", "/v1/slots/2/request", nil, &req); err != nil {
		t.Fatal(err)
	}
	parsed, err := records.ParseVKLoadReq(req.Record)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	key := make([]byte, dkga.DKGA04.VendingKeySize())
	vk := keyload.VendingKey{SGC: 654321, KRN: 1, KT: int(sts.DUTK), BDT: int(sts.BaseDate2014), DKGA: int(dkga.DKGA04),
		EA: int(sts.EA11), KEN: 255, ACT: now.AddDate(-1, 0, 0), IUT: now.AddDate(1, 0, 0), CLM: 500, Key: key}
	klf, err := keyload.Issue(kmc, parsed, []keyload.VendingKey{vk, func() keyload.VendingKey { v := vk; v.KRN = 2; return v }()}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A broken file (the last digit of its MAC changed) loads nothing.
	broken := append([]string{}, klf...)
	end := broken[len(broken)-1]
	i := strings.LastIndex(end, "|") - 1
	digit := "0"
	if end[i] == '0' {
		digit = "1"
	}
	broken[len(broken)-1] = end[:i] + digit + end[i+1:]
	if err := e.do("alice", "bob", "POST", "/v1/slots/2/load", api.LoadKLFRequest{Records: broken}, nil); err == nil {
		t.Fatal("a broken Key Load File loaded")
	}
	wantStatus(t, e.do("alice", "", "POST", "/v1/slots/2/load", api.LoadKLFRequest{Records: klf}, nil), http.StatusForbidden, sm.CodeExtended)
	var regs api.RegistersAnswer
	if err := e.do("aud", "", "GET", "/v1/registers", nil, &regs); err != nil || len(regs.Registers) != 1 {
		t.Fatalf("registers after refused loads: %+v, %v", regs, err)
	}
	var loaded api.LoadAnswer
	if err := e.do("alice", "bob", "POST", "/v1/slots/2/load", api.LoadKLFRequest{Records: klf}, &loaded); err != nil {
		t.Fatal(err)
	}
	if len(loaded.Registers) != 2 || loaded.Registers[0].SGC != 654321 {
		t.Fatalf("loaded %+v", loaded)
	}
	var reg sm.Register
	if err := e.do("pos", "", "GET", "/v1/registers/654321/2/2", nil, &reg); err != nil || reg.KRN != 2 || reg.CLM != 500 {
		t.Fatalf("register = %+v, %v", reg, err)
	}
	wantStatus(t, e.do("pos", "", "GET", "/v1/registers/654321/3/2", nil, nil), http.StatusNotFound, sm.CodeNoRegister)
	wantStatus(t, e.do("pos", "", "GET", "/v1/registers/654321/x/2", nil, nil), http.StatusBadRequest, sm.CodeFormat)
	// The path's SGC and KRN are digit strings of the standard's width:
	// no short SGC, no base prefix, no sign, no KRN beyond 9.
	for _, p := range []string{"54321/2/2", "0654321/2/2", "0x9f31/2/2", "+54321/2/2", "６５４３２１/2/2",
		"654321/10/2", "654321/0/2", "654321/02/2", "654321/+2/2"} {
		wantStatus(t, e.do("pos", "", "GET", "/v1/registers/"+p, nil, nil), http.StatusBadRequest, sm.CodeFormat)
	}
	var slots struct{ Slots []slotJSON }
	if err := e.do("aud", "", "GET", "/v1/slots", nil, &slots); err != nil || len(slots.Slots) != 2 || slots.Slots[1].State != sm.SlotActive {
		t.Fatalf("slots = %+v, %v", slots, err)
	}
	wantStatus(t, e.do("aud", "", "DELETE", "/v1/slots/2", nil, nil), http.StatusForbidden, sm.CodeExtended)
	if err := e.do("alice", "", "DELETE", "/v1/slots/2", nil, nil); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.do("alice", "", "DELETE", "/v1/slots/2", nil, nil), http.StatusNotFound, sm.CodeNoSlot)
}

// TestAuditorEndpoints: the counter, audit verification and the
// self-test on demand, which puts the module in its error state when the
// stored state was changed behind its back.
func TestAuditorEndpoints(t *testing.T) {
	e := startOfficers(t)
	ctx := context.Background()
	var n api.CounterAnswer
	if err := e.do("aud", "", "GET", "/v1/counter", nil, &n); err != nil || n.Transactions != 0 {
		t.Fatalf("counter = %+v, %v", n, err)
	}
	if _, err := (&api.Client{URL: e.url, Token: e.tokens["pos"]}).Credit(ctx, credit(1, "c-1", 10)); err != nil {
		t.Fatal(err)
	}
	if err := e.do("pos", "", "GET", "/v1/counter", nil, &n); err != nil || n.Transactions != 1 {
		t.Fatalf("counter = %+v, %v", n, err)
	}
	wantStatus(t, e.do("alice", "", "GET", "/v1/counter", nil, nil), http.StatusForbidden, sm.CodeExtended)
	var rep api.AuditAnswer
	if err := e.do("aud", "", "GET", "/v1/audit/verify", nil, &rep); err != nil || rep.Records < 4 || len(rep.Head) != 64 {
		t.Fatalf("audit verify = %+v, %v", rep, err)
	}
	wantStatus(t, e.do("pos", "", "GET", "/v1/audit/verify", nil, nil), http.StatusForbidden, sm.CodeExtended)
	var st api.SelftestAnswer
	if err := e.do("pos", "", "POST", "/v1/selftest", nil, &st); err != nil || !st.OK || st.Fault != "" {
		t.Fatalf("selftest = %+v, %v", st, err)
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(e.dir, "sm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `UPDATE sm_register SET ken = 7`); err != nil {
		t.Fatal(err)
	}
	if err := e.do("aud", "", "POST", "/v1/selftest", nil, &st); err != nil || st.OK || !strings.Contains(st.Fault, "self-test registers failed") {
		t.Fatalf("selftest = %+v, %v", st, err)
	}
	wantStatus(t, e.do("pos", "", "POST", "/v1/credit", credit(1, "c-2", 10), nil), http.StatusServiceUnavailable, sm.CodeExtended)
	var id struct{ Fault string }
	if err := e.do("pos", "", "GET", "/v1/identify", nil, &id); err != nil || !strings.Contains(id.Fault, "self-test registers failed") {
		t.Fatalf("identify = %+v, %v", id, err)
	}
}
