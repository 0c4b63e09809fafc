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
// ("request_id", or the Idempotency-Key header; both given must agree): a
// retry by the same caller with the same id gets the stored answer, never
// a second token; another caller's id is refused (sm.ErrRequestOwned).
//
// Request bodies are strict JSON (internal/strictjson). Refusals are JSON
// {"code", "field", "error", "ref"}: code is the STS6 status code of the
// refusal (sm.Code), field the member of the request at fault, ref an
// internal error's reference in the log, and the HTTP status says its kind
// (see refusals).
//
// Plain HTTP is served only on loopback addresses; any other address
// needs TLS (Listen).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"strings"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/records"
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
	log     *log.Logger
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
	s := &Server{m: m, tokens: tokens, clients: clients, mux: http.NewServeMux(), log: log.Default()}
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

// ErrorBody is the JSON of a refusal: the status code, the member of the
// request at fault (if one is), words for people and, for an internal
// error, the reference of its line in the server's log.
type ErrorBody struct {
	Code  sm.Code `json:"code"`
	Field string  `json:"field,omitempty"`
	Error string  `json:"error"`
	Ref   string  `json:"ref,omitempty"`
}

// String says the refusal as a client's error does.
func (b ErrorBody) String() string {
	s := "sm/api: status " + string(b.Code) + ": " + b.Error
	if b.Ref != "" {
		s += " (ref " + b.Ref + ")"
	}
	return s
}

// refusal is the HTTP status and code of a kind of error.
type refusal struct {
	status int
	code   sm.Code // "" for the module's own code (sm.CodeOf)
	kinds  []error
}

// refusals maps the errors of the module, and of the packages that parse
// its input (sts, records), to an HTTP status, in the order they are
// tested. Only an error none of them matches is a 500.
var refusals = []refusal{
	{http.StatusBadRequest, "", []error{sm.ErrInvalidRequest, sm.ErrFormat}},
	{http.StatusForbidden, "", []error{sm.ErrRole, sm.ErrLiveKMC, sm.ErrNotTestKMC}},
	{http.StatusNotFound, "", []error{sm.ErrNoRegister, sm.ErrNoSlot}},
	{http.StatusConflict, "", []error{sm.ErrRequestReused, sm.ErrRequestOwned, sm.ErrCreditLimit, sm.ErrSlotState,
		sm.ErrNotPending, sm.ErrSlotsFull, sm.ErrRegistersFull, sm.ErrKeyExpired, sm.ErrKMCKeyExpired, sm.ErrAfterIUT,
		sm.ErrBeforeACT, sm.ErrTIDWindow, sm.ErrModuleExists, sm.ErrNoRollback}},
	{http.StatusUnprocessableEntity, "", []error{sm.ErrRange, sm.ErrSubclass, sm.ErrKeyType, sm.ErrVariant,
		sm.ErrAttribute, sm.ErrMAC, sm.ErrFingerprint, sm.ErrNoTables}},
	{http.StatusServiceUnavailable, "", []error{sm.ErrSelfTest, sm.ErrClosed, sm.ErrIntegrity, sm.ErrNoModule,
		sm.ErrIdentity}},
	{http.StatusBadRequest, sm.CodeFormat, []error{sts.ErrFormat, sts.ErrCRC, sts.ErrCheckDigit}},
	{http.StatusUnprocessableEntity, sm.CodeRange, []error{sts.ErrRange, sts.ErrAmountTooLarge, sts.ErrTIDRollover,
		sts.ErrBeforeBaseDate, records.ErrRange}},
	{http.StatusUnprocessableEntity, sm.CodeSubclass, []error{sts.ErrReserved}},
	{http.StatusUnprocessableEntity, sm.CodeAttribute, []error{sts.ErrNoKey, sts.ErrKey}},
	{http.StatusUnprocessableEntity, sm.CodeFormat, recordErrors},
}

// recordErrors are the sentinels of package records: a record that does
// not parse.
var recordErrors = []error{records.ErrUnknownType, records.ErrFieldCount, records.ErrIdent, records.ErrTime,
	records.ErrHex, records.ErrLowerHex, records.ErrLength, records.ErrPoint, records.ErrDecimal, records.ErrChoice,
	records.ErrCRC, records.ErrPKIDType, records.ErrKeyHash, records.ErrValue, records.ErrSpec, records.ErrStructure,
	records.ErrDuplicate, records.ErrSignature}

// kindFields names the member of a token request that a module refusal
// of these kinds is about, for the error body's field.
var kindFields = []struct {
	kind  error
	field string
}{
	{sm.ErrRequestReused, "request_id"}, {sm.ErrRequestOwned, "request_id"}, {sm.ErrSubclass, "subclass"},
	{sm.ErrCreditLimit, "amount"},
}

// fieldOf is the member of the request err names: that of an input
// error, else the one its kind is about, else "".
func fieldOf(err error) string {
	if f := httpapi.FieldOf(err); f != "" {
		return f
	}
	for _, k := range kindFields {
		if errors.Is(err, k.kind) {
			return k.field
		}
	}
	return ""
}

// classify returns the status and code of err, ok false if no refusal
// matches it.
func classify(err error) (status int, code sm.Code, ok bool) {
	for _, c := range refusals {
		for _, k := range c.kinds {
			if errors.Is(err, k) {
				if code = c.code; code == "" {
					code = sm.CodeOf(err)
				}
				return c.status, code, true
			}
		}
	}
	return 0, "", false
}

// errorBody renders err: a request the API cannot take (*httpapi.InputError)
// as 400 naming the field, a refusal of the module or of the packages
// parsing its input with its code and words, any other error as an
// internal error whose words are not shown but logged, under the
// reference the answer carries.
func (s *Server) errorBody(err error) (int, ErrorBody) {
	field := fieldOf(err)
	var ie *httpapi.InputError
	if errors.As(err, &ie) {
		code := sm.CodeFormat
		if _, c, ok := classify(err); ok && c != sm.CodeExtended {
			code = c
		}
		return http.StatusBadRequest, ErrorBody{Code: code, Field: field, Error: err.Error()}
	}
	if status, code, ok := classify(err); ok {
		return status, ErrorBody{Code: code, Field: field, Error: err.Error()}
	}
	ref := httpapi.NewRef()
	s.log.Printf("sm/api: internal error, ref %s: %v", ref, err)
	return http.StatusInternalServerError, ErrorBody{Code: sm.CodeExtended, Error: "internal error", Ref: ref}
}

// Explain says how the API answers err, for another front end of the same
// module (the console): its HTTP status and words, or 0 and "" for an
// internal error, whose words are not for the caller.
func Explain(err error) (status int, text string) {
	var ie *httpapi.InputError
	if errors.As(err, &ie) {
		return http.StatusBadRequest, err.Error()
	}
	if status, _, ok := classify(err); ok {
		return status, err.Error()
	}
	return 0, ""
}

// SetLog sets where internal errors are logged, with the reference their
// answer carries (default: log.Default(), the process's standard error).
// The module's errors never hold key material.
func (s *Server) SetLog(l *log.Logger) { s.log = l }

// api is the shared HTTP plumbing (internal/httpapi) with this API's
// tokens and error bodies.
func (s *Server) api() *httpapi.API[sm.Actor] {
	return &httpapi.API[sm.Actor]{Tokens: s.tokens, Clients: s.clients, Realm: "stskms-sm", MaxBody: maxBody,
		Unauthorized: ErrorBody{Code: sm.CodeExtended, Error: "authentication required: a valid bearer token or a known client certificate (and, with both, the same caller)"},
		Refusal:      func(err error) (int, any) { return s.errorBody(err) }}
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpapi.WriteJSON(w, status, v) }

func (s *Server) writeError(w http.ResponseWriter, err error) {
	status, body := s.errorBody(err)
	writeJSON(w, status, body)
}

// auth returns the caller of r, or answers 401 and returns false.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) (sm.Actor, bool) {
	return s.api().Auth(w, r)
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

// check refuses a register whose SGC or KRN is outside the standard's
// range, naming the member (prefix.sgc, prefix.krn). In JSON they are
// numbers: the SGC 0..999999 (JSON has no leading zeros, so 12345 is
// supply group 012345), the KRN 1..9.
func (r RegisterRef) check(prefix string) error {
	if err := sts.CheckSGC(int64(r.SGC)); err != nil {
		return httpapi.FieldError(prefix+".sgc", err)
	}
	if err := sts.CheckKRN(int64(r.KRN)); err != nil {
		return httpapi.FieldError(prefix+".krn", err)
	}
	return nil
}

func (m Meter) key() (sm.MeterKey, error) {
	pan, err := sts.ParsePAN(m.PAN)
	if err != nil {
		return sm.MeterKey{}, httpapi.FieldError("meter.pan", err)
	}
	if err := sts.CheckTI(int64(m.TI)); err != nil {
		return sm.MeterKey{}, httpapi.FieldError("meter.ti", err)
	}
	if err := m.RegisterRef.check("meter"); err != nil {
		return sm.MeterKey{}, err
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
			return sm.CreditRequest{}, httpapi.FieldError("currency", fmt.Errorf("%w: %.40q is not a decimal integer", sts.ErrRange, c.Currency))
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
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if probe.Error != "" {
		r.ErrorBody = new(ErrorBody)
		return json.Unmarshal(b, r.ErrorBody)
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
	raw, err := httpapi.ReadBody(w, r, maxBody)
	if err != nil {
		s.writeError(w, &httpapi.InputError{Err: fmt.Errorf("request body: %w", err)})
		return
	}
	if trimmed := strings.TrimLeft(string(raw), " \t\r\n"); strings.HasPrefix(trimmed, "[") {
		var reqs []CreditRequest
		if err := httpapi.DecodeJSON(raw, &reqs); err != nil {
			s.writeError(w, err)
			return
		}
		if r.Header.Get("Idempotency-Key") != "" {
			s.writeError(w, &httpapi.InputError{Field: "Idempotency-Key",
				Err: errors.New("a batch gives a request_id per request, not an Idempotency-Key header")})
			return
		}
		s.creditBatch(w, r.Context(), a, reqs)
		return
	}
	ans, err := s.creditOne(r, a, raw)
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// creditOne issues the credit token of one request.
func (s *Server) creditOne(r *http.Request, a sm.Actor, raw []byte) (sm.Issued, error) {
	var req CreditRequest
	if err := httpapi.DecodeJSON(raw, &req); err != nil {
		return sm.Issued{}, err
	}
	id, err := httpapi.RequestID(r, req.RequestID)
	if err != nil {
		return sm.Issued{}, err
	}
	mreq, err := req.module(id)
	if err != nil {
		return sm.Issued{}, err
	}
	return s.m.Credit(r.Context(), a, mreq)
}

// creditBatch issues a batch of credit tokens through the module's
// CreditBatch, which makes them durable in few transactions. Each request
// has its own outcome.
func (s *Server) creditBatch(w http.ResponseWriter, ctx context.Context, a sm.Actor, reqs []CreditRequest) {
	if len(reqs) == 0 || len(reqs) > MaxBatch {
		s.writeError(w, &httpapi.InputError{Err: fmt.Errorf("a batch holds 1 to %d requests, not %d", MaxBatch, len(reqs))})
		return
	}
	results := make([]Result, len(reqs))
	refused := func(i int, err error) {
		_, body := s.errorBody(err)
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

// idAndMeter returns the request id (the body's, or the header's) and the
// meter of a request for one meter's token, checked in that order.
func idAndMeter(r *http.Request, requestID string, m Meter) (string, sm.MeterKey, error) {
	id, err := httpapi.RequestID(r, requestID)
	if err != nil {
		return "", sm.MeterKey{}, err
	}
	mk, err := m.key()
	return id, mk, err
}

// ManagementRequest is the body of POST /v1/management.
type ManagementRequest struct {
	RequestID string       `json:"request_id,omitempty"`
	Meter     Meter        `json:"meter"`
	Subclass  sts.Subclass `json:"subclass"`
	Value     uint64       `json:"value"`
}

func (s *Server) management(ctx context.Context, a sm.Actor, r *http.Request, req ManagementRequest) (any, error) {
	id, mk, err := idAndMeter(r, req.RequestID, req.Meter)
	if err != nil {
		return nil, err
	}
	return s.m.Manage(ctx, a, sm.ManagementRequest{ID: id, Meter: mk, Sub: req.Subclass, Value: req.Value})
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
	id, mk, err := idAndMeter(r, req.RequestID, req.Meter)
	if err != nil {
		return nil, err
	}
	if err := req.To.check("to"); err != nil {
		return nil, err
	}
	if err := sts.CheckTI(int64(req.TI)); err != nil {
		return nil, httpapi.FieldError("ti", err)
	}
	return s.m.KeyChange(ctx, a, sm.KeyChangeRequest{ID: id, Meter: mk, To: req.To.key(),
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
	id, err := httpapi.RequestID(r, req.RequestID)
	if err != nil {
		return nil, err
	}
	return s.m.Test(ctx, a, sm.TestRequest{ID: id, Sub: req.Subclass, MfrCode: req.MfrCode, Control: req.Control})
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
		s.writeError(w, err)
		return
	}
	if regs == nil {
		regs = []sm.Register{}
	}
	writeJSON(w, http.StatusOK, RegistersAnswer{Registers: regs})
}
