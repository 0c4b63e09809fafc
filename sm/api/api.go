// Package api is the HTTP/JSON API of the software security module: the
// operations of sm.Module over HTTP, documented as OpenAPI 3 in
// docs/sm-api.yaml.
//
//	GET  /v1/identify     the module's identity (no authentication)
//	GET  /v1/registers    the vending key registers (any role)
//	POST /v1/credit       a credit token, or an array of them (operator)
//	POST /v1/management   a management token (operator)
//	POST /v1/keychange    a key change token set (operator)
//	POST /v1/test         a test/display token (operator)
//	POST /v1/verify       decode a token (operator)
//
// Callers authenticate with bearer tokens that the token file in the
// module directory (TokenFile) maps to a role and a name, or, served over
// TLS with a client CA, with client certificates that the client file
// (ClientsFile, shared with the STS6-style API) maps likewise; the module
// checks the role of every operation. Token requests carry a request id
// ("request_id", or the Idempotency-Key header): a retry with the same id
// gets the stored answer, never a second token.
//
// Refusals are JSON {"code", "error"}: code is the STS6 status code of the
// refusal (sm.Code) and the HTTP status says its kind (see httpStatus).
//
// Plain HTTP is served only on loopback addresses; any other address
// needs TLS (Listen).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// MaxBatch is the most credit requests one POST /v1/credit may carry.
const MaxBatch = 1024

// maxBody is the largest request body.
const maxBody = 1 << 20

// Server is the HTTP handler of the API.
type Server struct {
	m       *sm.Module
	tokens  *Tokens
	clients *Clients
	mux     *http.ServeMux
}

// Routes lists the method and path of every operation (the OpenAPI test
// compares it with docs/sm-api.yaml).
var Routes = append([]string{
	"GET /v1/identify",
	"GET /v1/registers",
	"POST /v1/credit",
	"POST /v1/management",
	"POST /v1/keychange",
	"POST /v1/test",
	"POST /v1/verify",
}, officerRoutes...)

// New returns the API of m, authenticating callers with bearer tokens.
func New(m *sm.Module, tokens *Tokens) *Server { return NewWithClients(m, tokens, nil) }

// NewWithClients returns the API of m, authenticating callers with bearer
// tokens and, served with TLS that verifies client certificates
// (httpapi.WithClientCA, tls.VerifyClientCertIfGiven), with the
// certificates clients maps: a certificate it does not know is refused,
// and a bearer token sent with a certificate must name the same caller.
func NewWithClients(m *sm.Module, tokens *Tokens, clients *Clients) *Server {
	s := &Server{m: m, tokens: tokens, clients: clients, mux: http.NewServeMux()}
	handlers := []http.HandlerFunc{s.identify, s.registers, s.credit,
		handle(s, s.management), handle(s, s.keyChange), handle(s, s.test), handle(s, s.verify)}
	for i, r := range Routes[:len(handlers)] {
		s.mux.HandleFunc(r, handlers[i])
	}
	s.registerOfficer()
	return s
}

// handle makes the handler of an operation with a JSON body of type T: it
// authenticates the caller, decodes the body, calls op and writes its
// answer or its error.
func handle[T any](s *Server, op func(ctx context.Context, a sm.Actor, r *http.Request, req T) (any, error)) http.HandlerFunc {
	return httpapi.Handle(s.api(), op)
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// ErrorBody is the JSON of a refusal.
type ErrorBody struct {
	Code  sm.Code `json:"code"`
	Error string  `json:"error"`
}

// String says the refusal as a client's error does.
func (b ErrorBody) String() string { return "sm/api: status " + string(b.Code) + ": " + b.Error }

// httpStatus maps a module refusal to an HTTP status.
func httpStatus(err error) int {
	for _, c := range []struct {
		status int
		kinds  []error
	}{
		{http.StatusBadRequest, []error{sm.ErrInvalidRequest, sm.ErrFormat}},
		{http.StatusForbidden, []error{sm.ErrRole, sm.ErrLiveKMC, sm.ErrNotTestKMC}},
		{http.StatusNotFound, []error{sm.ErrNoRegister, sm.ErrNoSlot}},
		{http.StatusConflict, []error{sm.ErrRequestReused, sm.ErrCreditLimit, sm.ErrSlotState, sm.ErrNotPending,
			sm.ErrSlotsFull, sm.ErrRegistersFull, sm.ErrKeyExpired, sm.ErrKMCKeyExpired, sm.ErrAfterIUT,
			sm.ErrBeforeACT, sm.ErrTIDWindow}},
		{http.StatusUnprocessableEntity, []error{sm.ErrRange, sm.ErrSubclass, sm.ErrKeyType, sm.ErrVariant,
			sm.ErrAttribute, sm.ErrMAC, sm.ErrFingerprint, sm.ErrNoTables}},
		{http.StatusServiceUnavailable, []error{sm.ErrSelfTest, sm.ErrClosed, sm.ErrIntegrity}},
	} {
		for _, k := range c.kinds {
			if errors.Is(err, k) {
				return c.status
			}
		}
	}
	return http.StatusInternalServerError
}

// errorBody renders err: a module refusal with its code and words, any
// other error as an internal error whose words are not shown.
func errorBody(err error) (int, ErrorBody) {
	var e *sm.Error
	if errors.As(err, &e) {
		return httpStatus(err), ErrorBody{Code: sm.CodeOf(err), Error: err.Error()}
	}
	if errors.Is(err, sts.ErrRange) {
		return http.StatusUnprocessableEntity, ErrorBody{Code: sm.CodeRange, Error: err.Error()}
	}
	return http.StatusInternalServerError, ErrorBody{Code: sm.CodeExtended, Error: "internal error"}
}

// api is the shared HTTP plumbing (internal/httpapi) with this API's
// tokens and error bodies.
func (s *Server) api() *httpapi.API[sm.Actor] {
	return &httpapi.API[sm.Actor]{Tokens: s.tokens, Clients: s.clients, Realm: "stskms-sm", MaxBody: maxBody,
		Unauthorized: ErrorBody{Code: sm.CodeExtended, Error: "authentication required: a valid bearer token or a known client certificate (and, with both, the same caller)"},
		Malformed:    func(msg string) any { return ErrorBody{Code: sm.CodeFormat, Error: msg} },
		Refusal:      func(err error) (int, any) { return errorBody(err) }}
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpapi.WriteJSON(w, status, v) }

func writeError(w http.ResponseWriter, err error) {
	status, body := errorBody(err)
	writeJSON(w, status, body)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, ErrorBody{Code: sm.CodeFormat, Error: fmt.Sprintf(format, args...)})
}

// auth returns the caller of r, or answers 401 and returns false.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) (sm.Actor, bool) {
	return s.api().Auth(w, r)
}

func decodeBytes(raw []byte, v any) error { return httpapi.DecodeBytes(raw, v) }

// requestID is the id of a token request: the body's, else the
// Idempotency-Key header.
func requestID(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	return r.Header.Get("Idempotency-Key")
}

// Meter is a meter key as JSON.
type Meter struct {
	PAN string `json:"pan"`
	TI  uint8  `json:"ti"`
	RegisterRef
}

// RegisterRef names a register as JSON.
type RegisterRef struct {
	SGC uint32      `json:"sgc"`
	KRN uint8       `json:"krn"`
	KT  sts.KeyType `json:"kt"`
}

func (r RegisterRef) key() sm.RegisterKey { return sm.RegisterKey{SGC: r.SGC, KRN: r.KRN, KT: r.KT} }

func (m Meter) key() (sm.MeterKey, error) {
	pan, err := sts.ParsePAN(m.PAN)
	if err != nil {
		return sm.MeterKey{}, fmt.Errorf("meter.pan: %w", err)
	}
	return sm.MeterKey{PAN: pan, TI: m.TI, RegisterKey: m.RegisterRef.key()}, nil
}

// MeterOf returns the JSON form of a meter key.
func MeterOf(k sm.MeterKey) Meter {
	return Meter{PAN: k.PAN.String(), TI: k.TI, RegisterRef: RegisterRef{SGC: k.SGC, KRN: k.KRN, KT: k.KT}}
}

// CreditRequest is the body of POST /v1/credit (or one element of an
// array of them).
type CreditRequest struct {
	RequestID string       `json:"request_id,omitempty"`
	Meter     Meter        `json:"meter"`
	Subclass  sts.Subclass `json:"subclass"`
	Amount    uint64       `json:"amount,omitempty"`
	// Currency is the decimal amount of a currency token in units of
	// 0.00001 of the currency (negative: a debit).
	Currency string `json:"currency,omitempty"`
}

func (c CreditRequest) module(id string) (sm.CreditRequest, error) {
	mk, err := c.Meter.key()
	if err != nil {
		return sm.CreditRequest{}, err
	}
	req := sm.CreditRequest{ID: id, Meter: mk, Sub: c.Subclass, Amount: c.Amount}
	if c.Currency != "" {
		v, ok := new(big.Int).SetString(c.Currency, 10)
		if !ok {
			return sm.CreditRequest{}, fmt.Errorf("%w: currency %q is not a decimal integer", sts.ErrRange, c.Currency)
		}
		req.Currency = v
	}
	return req, nil
}

// Result is one answer of a batch: the tokens, or the refusal.
type Result struct {
	*sm.Issued
	*ErrorBody
}

// MarshalJSON writes the answer or the refusal.
func (r Result) MarshalJSON() ([]byte, error) {
	if r.ErrorBody != nil {
		return json.Marshal(r.ErrorBody)
	}
	return json.Marshal(r.Issued)
}

// UnmarshalJSON reads an answer or a refusal.
func (r *Result) UnmarshalJSON(b []byte) error {
	var probe struct {
		Code  sm.Code `json:"code"`
		Error string  `json:"error"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if probe.Error != "" {
		r.ErrorBody = &ErrorBody{Code: probe.Code, Error: probe.Error}
		return nil
	}
	r.Issued = new(sm.Issued)
	return json.Unmarshal(b, r.Issued)
}

// BatchAnswer is the answer to an array of credit requests: one result
// per request, in order.
type BatchAnswer struct {
	Results []Result `json:"results"`
}

func (s *Server) credit(w http.ResponseWriter, r *http.Request) {
	a, ok := s.auth(w, r)
	if !ok {
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		badRequest(w, "request body: %v", err)
		return
	}
	if trimmed := strings.TrimLeft(string(raw), " \t\r\n"); strings.HasPrefix(trimmed, "[") {
		var reqs []CreditRequest
		if err := decodeBytes(raw, &reqs); err != nil {
			badRequest(w, "request body: %v", err)
			return
		}
		s.creditBatch(w, r.Context(), a, reqs)
		return
	}
	var req CreditRequest
	if err := decodeBytes(raw, &req); err != nil {
		badRequest(w, "request body: %v", err)
		return
	}
	mreq, err := req.module(requestID(r, req.RequestID))
	if err != nil {
		writeError(w, err)
		return
	}
	ans, err := s.m.Credit(r.Context(), a, mreq)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// creditBatch issues a batch of credit tokens through the module's
// CreditBatch, which makes them durable in few transactions. Each request
// has its own outcome.
func (s *Server) creditBatch(w http.ResponseWriter, ctx context.Context, a sm.Actor, reqs []CreditRequest) {
	if len(reqs) == 0 || len(reqs) > MaxBatch {
		badRequest(w, "a batch holds 1 to %d requests, not %d", MaxBatch, len(reqs))
		return
	}
	results := make([]Result, len(reqs))
	refused := func(i int, err error) {
		_, body := errorBody(err)
		results[i] = Result{ErrorBody: &body}
	}
	mreqs := make([]sm.CreditRequest, 0, len(reqs))
	at := make([]int, 0, len(reqs))
	for i, req := range reqs {
		mreq, err := req.module(req.RequestID)
		if err != nil {
			refused(i, err)
			continue
		}
		mreqs, at = append(mreqs, mreq), append(at, i)
	}
	answers, errs := s.m.CreditBatch(ctx, a, mreqs)
	for k, i := range at {
		if errs[k] != nil {
			refused(i, errs[k])
			continue
		}
		results[i] = Result{Issued: &answers[k]}
	}
	writeJSON(w, http.StatusOK, BatchAnswer{Results: results})
}

// ManagementRequest is the body of POST /v1/management.
type ManagementRequest struct {
	RequestID string       `json:"request_id,omitempty"`
	Meter     Meter        `json:"meter"`
	Subclass  sts.Subclass `json:"subclass"`
	Value     uint64       `json:"value"`
}

func (s *Server) management(ctx context.Context, a sm.Actor, r *http.Request, req ManagementRequest) (any, error) {
	mk, err := req.Meter.key()
	if err != nil {
		return nil, err
	}
	return s.m.Manage(ctx, a, sm.ManagementRequest{ID: requestID(r, req.RequestID), Meter: mk, Sub: req.Subclass, Value: req.Value})
}

// KeyChangeRequest is the body of POST /v1/keychange.
type KeyChangeRequest struct {
	RequestID   string      `json:"request_id,omitempty"`
	Meter       Meter       `json:"meter"`
	To          RegisterRef `json:"to"`
	TI          uint8       `json:"ti"`
	ThreeTokens bool        `json:"three_tokens,omitempty"`
}

func (s *Server) keyChange(ctx context.Context, a sm.Actor, r *http.Request, req KeyChangeRequest) (any, error) {
	mk, err := req.Meter.key()
	if err != nil {
		return nil, err
	}
	return s.m.KeyChange(ctx, a, sm.KeyChangeRequest{ID: requestID(r, req.RequestID), Meter: mk, To: req.To.key(),
		TI: req.TI, ThreeTokens: req.ThreeTokens})
}

// TestRequest is the body of POST /v1/test.
type TestRequest struct {
	RequestID string       `json:"request_id,omitempty"`
	Subclass  sts.Subclass `json:"subclass"`
	MfrCode   uint16       `json:"mfr_code"`
	Control   uint64       `json:"control"`
}

func (s *Server) test(ctx context.Context, a sm.Actor, r *http.Request, req TestRequest) (any, error) {
	return s.m.Test(ctx, a, sm.TestRequest{ID: requestID(r, req.RequestID), Sub: req.Subclass, MfrCode: req.MfrCode, Control: req.Control})
}

// VerifyRequest is the body of POST /v1/verify.
type VerifyRequest struct {
	Meter Meter  `json:"meter"`
	Token string `json:"token"`
}

func (s *Server) verify(ctx context.Context, a sm.Actor, _ *http.Request, req VerifyRequest) (any, error) {
	mk, err := req.Meter.key()
	if err != nil {
		return nil, err
	}
	return s.m.Verify(ctx, a, sm.VerifyRequest{Meter: mk, Token: req.Token})
}

// IdentifyAnswer is the answer of GET /v1/identify: the module's identity
// and whether it is in its error state.
type IdentifyAnswer struct {
	Identity sm.Identity `json:"identity"`
	Fault    string      `json:"fault,omitempty"`
}

func (s *Server) identify(w http.ResponseWriter, r *http.Request) {
	ans := IdentifyAnswer{Identity: s.m.Identify()}
	if err := s.m.Fault(); err != nil {
		ans.Fault = err.Error()
	}
	writeJSON(w, http.StatusOK, ans)
}

// RegistersAnswer is the answer of GET /v1/registers.
type RegistersAnswer struct {
	Registers []sm.Register `json:"registers"`
}

func (s *Server) registers(w http.ResponseWriter, r *http.Request) {
	a, ok := s.auth(w, r)
	if !ok {
		return
	}
	regs, err := s.m.Registers(r.Context(), a)
	if err != nil {
		writeError(w, err)
		return
	}
	if regs == nil {
		regs = []sm.Register{}
	}
	writeJSON(w, http.StatusOK, RegistersAnswer{Registers: regs})
}
