package api_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sts"
)

type env struct {
	m      *sm.Module
	tokens *api.Tokens
	url    string
}

func (e *env) client(r sm.Role) *api.Client {
	return &api.Client{URL: e.url, Token: e.tokens.Token(r)}
}

// start makes a test module with a register, its test tokens, and serves
// the API on a real loopback listener.
func start(t testing.TB) *env {
	t.Helper()
	m, dir := newModule(t)
	tokens, err := api.InitTestTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := api.LoadTokens(dir); err != nil || !again.TestOnly || again.Token(sm.Operator) != tokens.Token(sm.Operator) {
		t.Fatalf("LoadTokens = %v, %v", again, err)
	}
	return &env{m: m, tokens: tokens, url: serve(t, nil, api.New(m, tokens))}
}

// newModule makes a test module with a register (apitest.Setup), closed
// when the test ends.
func newModule(t testing.TB) (*sm.Module, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sm")
	m, err := apitest.Setup(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}

func credit(i int, id string, amount uint64) api.CreditRequest {
	return api.CreditRequest{RequestID: id, Meter: api.MeterOf(apitest.Meter(i)), Subclass: sts.Electricity, Amount: amount}
}

// wantStatus checks that err is a refusal with this HTTP status and code.
func wantStatus(t *testing.T, err error, status int, code sm.Code) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want HTTP %d status %s", err, status, code)
	}
	if se.Status != status || se.Body.Code != code || se.Body.Error == "" {
		t.Fatalf("err = HTTP %d %s %q, want HTTP %d status %s", se.Status, se.Body.Code, se.Body.Error, status, code)
	}
}

func TestEndpoints(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	op := e.client(sm.Operator)

	var id struct {
		Identity struct {
			SMID          string `json:"smid"`
			Test, Virtual bool
		} `json:"identity"`
		Fault string `json:"fault"`
	}
	if err := (&api.Client{URL: e.url}).Do(ctx, "GET", "/v1/identify", nil, &id); err != nil {
		t.Fatal(err)
	}
	if id.Identity.SMID != e.m.Identify().SMID.String() || !id.Identity.Test || !id.Identity.Virtual || id.Fault != "" {
		t.Fatalf("identify = %+v", id)
	}

	var regs api.RegistersAnswer
	if err := e.client(sm.Auditor).Do(ctx, "GET", "/v1/registers", nil, &regs); err != nil {
		t.Fatal(err)
	}
	if len(regs.Registers) != 1 || regs.Registers[0].RegisterKey != apitest.Register {
		t.Fatalf("registers = %+v", regs)
	}

	ans, err := op.Credit(ctx, credit(1, "c-1", 100))
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Tokens) != 1 || ans.RequestID != "c-1" || ans.Replayed || ans.Amount != 100 {
		t.Fatalf("credit = %+v", ans)
	}

	var v struct {
		Class    sts.Class    `json:"class"`
		Subclass sts.Subclass `json:"subclass"`
	}
	if err := op.Do(ctx, "POST", "/v1/verify", api.VerifyRequest{Meter: api.MeterOf(apitest.Meter(1)), Token: ans.Tokens[0]}, &v); err != nil {
		t.Fatal(err)
	}
	if v.Class != sts.ClassCredit || v.Subclass != sts.Electricity {
		t.Fatalf("verify = %+v", v)
	}

	var mg sm.Issued
	if err := op.Do(ctx, "POST", "/v1/management", api.ManagementRequest{RequestID: "m-1", Meter: api.MeterOf(apitest.Meter(1)),
		Subclass: sts.MaximumPowerLimit, Value: 5000}, &mg); err != nil {
		t.Fatal(err)
	}
	if len(mg.Tokens) != 1 || mg.Class != sts.ClassManagement {
		t.Fatalf("management = %+v", mg)
	}

	var tt sm.Issued
	if err := op.Do(ctx, "POST", "/v1/test", api.TestRequest{RequestID: "t-1", Subclass: sts.TestDisplay1, Control: 1}, &tt); err != nil {
		t.Fatal(err)
	}
	if len(tt.Tokens) != 1 || tt.Class != sts.ClassTest {
		t.Fatalf("test = %+v", tt)
	}

	// A key change to a register the module does not hold: 404, status 28.
	err = op.Do(ctx, "POST", "/v1/keychange", api.KeyChangeRequest{RequestID: "k-1", Meter: api.MeterOf(apitest.Meter(1)),
		To: api.RegisterRef{SGC: 123456, KRN: 2, KT: sts.DUTK}, TI: 1}, nil)
	wantStatus(t, err, http.StatusNotFound, sm.CodeNoRegister)
}

func TestIdempotency(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	op := e.client(sm.Operator)
	first, err := op.Credit(ctx, credit(2, "same", 50))
	if err != nil {
		t.Fatal(err)
	}
	again, err := op.Credit(ctx, credit(2, "same", 50))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || !slices.Equal(again.Tokens, first.Tokens) || again.TID != first.TID {
		t.Fatalf("retry = %+v, first %+v", again, first)
	}
	// The request id in the Idempotency-Key header.
	req := credit(2, "", 50)
	var h1, h2 sm.Issued
	if err := op.Do(ctx, "POST", "/v1/credit", req, &h1, "Idempotency-Key", "hdr-1"); err != nil {
		t.Fatal(err)
	}
	if err := op.Do(ctx, "POST", "/v1/credit", req, &h2, "Idempotency-Key", "hdr-1"); err != nil {
		t.Fatal(err)
	}
	if h1.RequestID != "hdr-1" || !h2.Replayed || !slices.Equal(h1.Tokens, h2.Tokens) {
		t.Fatalf("header retry = %+v, first %+v", h2, h1)
	}
	// The same id for another request: 409, extended status.
	_, err = op.Credit(ctx, credit(2, "same", 60))
	wantStatus(t, err, http.StatusConflict, sm.CodeExtended)
}

func TestBatch(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	op := e.client(sm.Operator)
	var reqs []api.CreditRequest
	for i := range 20 {
		reqs = append(reqs, credit(i, fmt.Sprint("b-", i), 10))
	}
	bad := credit(99, "b-bad", 10)
	bad.Meter.KRN = 9
	reqs = append(reqs, bad)
	res, err := op.CreditBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(reqs) {
		t.Fatalf("%d results for %d requests", len(res), len(reqs))
	}
	seen := map[string]bool{}
	for i, r := range res[:20] {
		if r.ErrorBody != nil || r.Issued == nil || r.RequestID != fmt.Sprint("b-", i) || len(r.Tokens) != 1 || seen[r.Tokens[0]] {
			t.Fatalf("result %d = %+v", i, r)
		}
		seen[r.Tokens[0]] = true
	}
	if last := res[20]; last.ErrorBody == nil || last.Code != sm.CodeNoRegister {
		t.Fatalf("bad request's result = %+v", last)
	}
	// Replaying the batch gives the same tokens.
	res2, err := op.CreditBatch(ctx, reqs[:20])
	if err != nil {
		t.Fatal(err)
	}
	for i := range res2 {
		if !res2[i].Replayed || res2[i].Tokens[0] != res[i].Tokens[0] {
			t.Fatalf("replayed result %d = %+v", i, res2[i])
		}
	}
	err = op.Do(ctx, "POST", "/v1/credit", []api.CreditRequest{}, nil)
	wantStatus(t, err, http.StatusBadRequest, sm.CodeFormat)
}

func TestAuth(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for _, c := range []*api.Client{{URL: e.url}, {URL: e.url, Token: "not-a-token-of-this-module"}} {
		err := c.Do(ctx, "GET", "/v1/registers", nil, nil)
		wantStatus(t, err, http.StatusUnauthorized, sm.CodeExtended)
		_, err = c.Credit(ctx, credit(1, "x", 10))
		wantStatus(t, err, http.StatusUnauthorized, sm.CodeExtended)
	}
	for _, r := range []sm.Role{sm.Auditor, sm.Officer} {
		_, err := e.client(r).Credit(ctx, credit(1, "x-"+r.String(), 10))
		wantStatus(t, err, http.StatusForbidden, sm.CodeExtended)
		err = e.client(r).Do(ctx, "POST", "/v1/verify", api.VerifyRequest{Meter: api.MeterOf(apitest.Meter(1)), Token: "12345678901234567890"}, nil)
		wantStatus(t, err, http.StatusForbidden, sm.CodeExtended)
	}
	// The wrong method is not an operation.
	err := e.client(sm.Operator).Do(ctx, "GET", "/v1/credit", nil, nil)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/credit: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	op := e.client(sm.Operator)
	// Not JSON, unknown fields: 400, status 49.
	for _, body := range []any{"not an object", map[string]any{"meter": map[string]any{}, "bogus": 1}} {
		err := op.Do(ctx, "POST", "/v1/credit", body, nil)
		wantStatus(t, err, http.StatusBadRequest, sm.CodeFormat)
	}
	// A PAN that does not check.
	req := credit(1, "e-1", 10)
	req.Meter.PAN = "6007270000000001"
	_, err := op.Credit(ctx, req)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status/100 != 4 {
		t.Fatalf("bad PAN: %v", err)
	}
	// No such register: 404, 28.
	req = credit(1, "e-2", 10)
	req.Meter.SGC = 654321
	_, err = op.Credit(ctx, req)
	wantStatus(t, err, http.StatusNotFound, sm.CodeNoRegister)
	// A management subclass on the credit endpoint: 422, status 48.
	req = credit(1, "e-3", 10)
	req.Subclass = 9
	_, err = op.Credit(ctx, req)
	if !errors.As(err, &se) || se.Status != http.StatusUnprocessableEntity && se.Status != http.StatusBadRequest {
		t.Fatalf("bad subclass: %v", err)
	}
	// A token that does not decode: 400, status 49.
	err = op.Do(ctx, "POST", "/v1/verify", api.VerifyRequest{Meter: api.MeterOf(apitest.Meter(1)), Token: "12345678901234567890"}, nil)
	wantStatus(t, err, http.StatusBadRequest, sm.CodeFormat)
}

func TestListenRefusesPlainOffLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		if ln, err := api.Listen(addr, nil); !errors.Is(err, api.ErrPlainNotLoopback) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%q, no TLS) = %v, want ErrPlainNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0", "127.9.9.9:0"} {
		if !api.IsLoopback(addr) {
			t.Errorf("IsLoopback(%q) = false", addr)
		}
	}
	// With TLS any address is allowed.
	ln, err := api.Listen("0.0.0.0:0", &tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := api.LoadTokens(dir); !errors.Is(err, api.ErrNoTokens) {
		t.Fatalf("LoadTokens of an empty dir = %v", err)
	}
	if _, err := api.InitTestTokens(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := api.InitTestTokens(dir); err == nil {
		t.Fatal("InitTestTokens overwrote a token file")
	}
	b, err := os.ReadFile(filepath.Join(dir, api.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "TEST-ONLY") || !strings.Contains(string(b), `"test_only": true`) {
		t.Fatalf("token file not flagged TEST-ONLY:\n%s", b)
	}
	if err := os.WriteFile(filepath.Join(dir, api.TokenFile), []byte(`{"format":"stskms-sm-api-tokens/1","tokens":[{"token":"short","role":"operator","name":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := api.LoadTokens(dir); err == nil {
		t.Fatal("a short token was accepted")
	}
}

// TestOpenAPI checks that docs/sm-api.yaml documents exactly the routes
// the server has.
func TestOpenAPI(t *testing.T) {
	httpapitest.CheckOpenAPI(t, "../../docs/sm-api.yaml", api.Routes)
}
