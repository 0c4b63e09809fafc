package api

import (
	"context"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// The officer, auditor and module routes (docs/sm-api.yaml):
//
//	GET    /v1/slots                   the KEK slots (officer, auditor)
//	POST   /v1/slots                   install a KMC key (officer, dual control)
//	POST   /v1/slots/{slot}/request    make a VKLOAD.REQ.1 (officer)
//	POST   /v1/slots/{slot}/load       load a Key Load File (officer, dual control)
//	DELETE /v1/slots/{slot}            empty a slot (officer)
//	GET    /v1/registers/{sgc}/{krn}/{kt}  one register's attributes (any role)
//	GET    /v1/counter                 the transaction counter (operator, auditor)
//	GET    /v1/audit/verify            verify the audit chain (auditor, officer)
//	POST   /v1/selftest                run the self-tests now (any role)
//
// Dual control: the officer of the Authorization header and a second,
// distinct officer whose bearer token is in the SecondOfficerHeader header
// (sm.Module.DualControl: both registered with the module); the audit
// log records both.
var officerRoutes = []string{
	"GET /v1/slots",
	"POST /v1/slots",
	"POST /v1/slots/{slot}/request",
	"POST /v1/slots/{slot}/load",
	"DELETE /v1/slots/{slot}",
	"GET /v1/registers/{sgc}/{krn}/{kt}",
	"GET /v1/counter",
	"GET /v1/audit/verify",
	"POST /v1/selftest",
}

// SecondOfficerHeader carries the bearer token of the second officer of a
// dual-control operation.
const SecondOfficerHeader = "X-Second-Officer-Token"

// registerOfficer adds the officer routes to the mux.
func (s *Server) registerOfficer() {
	handlers := []http.HandlerFunc{noBody(s, s.listSlots), handle(s, s.installSlot), noBody(s, s.requestSlot),
		handle(s, s.loadSlot), noBody(s, s.deleteSlot), noBody(s, s.register), noBody(s, s.counter),
		noBody(s, s.verifyAudit), noBody(s, s.selftest)}
	for i, r := range officerRoutes {
		s.mux.HandleFunc(r, handlers[i])
	}
}

// noBody makes the handler of an operation without a request body.
func noBody(s *Server, op func(ctx context.Context, a sm.Actor, r *http.Request) (any, error)) http.HandlerFunc {
	return httpapi.HandleGet(s.api(), op)
}

// dual returns the caller of a dual-control operation.
func (s *Server) dual(first sm.Actor, r *http.Request) (sm.Actor, error) {
	second, _ := s.tokens.Actor(strings.TrimSpace(r.Header.Get(SecondOfficerHeader)))
	return s.m.DualControl(first, second)
}

// pathInt reads a decimal path value of at most max.
func pathInt(r *http.Request, name string, max uint64) (uint64, error) {
	v, err := strconv.ParseUint(r.PathValue(name), 10, 64)
	if err != nil || v > max {
		return 0, &sm.Error{Code: sm.CodeFormat, Kind: sm.ErrInvalidRequest, Detail: "path: " + name + " is not a number in 0.." + strconv.FormatUint(max, 10)}
	}
	return v, nil
}

// pathError is the refusal of a path segment that a digit parser of
// package sts refused.
func pathError(name string, err error) error {
	return &sm.Error{Code: sm.CodeFormat, Kind: sm.ErrInvalidRequest, Detail: "path: " + name + ": " + err.Error()}
}

// SlotsAnswer is the answer of GET /v1/slots.
type SlotsAnswer struct {
	Slots []sm.Slot `json:"slots"`
}

func (s *Server) listSlots(ctx context.Context, a sm.Actor, _ *http.Request) (any, error) {
	slots, err := s.m.Slots(ctx, a)
	if slots == nil {
		slots = []sm.Slot{}
	}
	return SlotsAnswer{Slots: slots}, err
}

// InstallRequest is the body of POST /v1/slots.
type InstallRequest struct {
	// Record is the one-line PK.ECDH.1 body.
	Record string `json:"record"`
	// Fingerprint is the KMC key fingerprint published out of band (16
	// hex digits), typed by the officer.
	Fingerprint string `json:"fingerprint"`
	// TestKMC declares the KMC a test KMC (required).
	TestKMC bool `json:"test_kmc"`
	// Slot is the slot number, or 0 for the first free one.
	Slot int `json:"slot,omitempty"`
}

func (s *Server) installSlot(ctx context.Context, a sm.Actor, r *http.Request, req InstallRequest) (any, error) {
	a, err := s.dual(a, r)
	if err != nil {
		return nil, err
	}
	return s.m.InstallSlot(ctx, a, sm.InstallRequest{Record: req.Record, Fingerprint: req.Fingerprint, TestKMC: req.TestKMC, Slot: req.Slot})
}

// LoadRequest is the answer of POST /v1/slots/{slot}/request: the
// VKLOAD.REQ.1 to send to the KMC.
type LoadRequest struct {
	Record string `json:"record"`
	TReq   string `json:"t_req"`
}

func (s *Server) requestSlot(ctx context.Context, a sm.Actor, r *http.Request) (any, error) {
	slot, err := pathInt(r, "slot", sm.MaxSlots)
	if err != nil {
		return nil, err
	}
	req, err := s.m.Request(ctx, a, int(slot))
	if err != nil {
		return nil, err
	}
	body, err := req.Format()
	if err != nil {
		return nil, err
	}
	return LoadRequest{Record: body, TReq: req.Time.Format(records.TimeLayout)}, nil
}

// LoadKLFRequest is the body of POST /v1/slots/{slot}/load: the Key Load
// File as the KMC sent it (a file of records, or a mail body holding
// them), or its one-line records in order.
type LoadKLFRequest struct {
	KLF     string   `json:"klf,omitempty"`
	Records []string `json:"records,omitempty"`
}

// LoadAnswer is the answer of POST /v1/slots/{slot}/load: the registers
// loaded, never their keys.
type LoadAnswer struct {
	Registers []sm.Register `json:"registers"`
}

func (s *Server) loadSlot(ctx context.Context, a sm.Actor, r *http.Request, req LoadKLFRequest) (any, error) {
	slot, err := pathInt(r, "slot", sm.MaxSlots)
	if err != nil {
		return nil, err
	}
	if a, err = s.dual(a, r); err != nil {
		return nil, err
	}
	bodies := req.Records
	if (req.KLF == "") == (len(bodies) == 0) {
		return nil, &sm.Error{Code: sm.CodeFormat, Kind: sm.ErrInvalidRequest, Detail: "give klf or records, not both"}
	}
	if req.KLF != "" {
		if bodies, err = sm.KLFBodies([]byte(req.KLF)); err != nil {
			return nil, err
		}
	}
	regs, err := s.m.LoadKLF(ctx, a, int(slot), bodies)
	if err != nil {
		return nil, err
	}
	return LoadAnswer{Registers: regs}, nil
}

// DeleteAnswer is the answer of DELETE /v1/slots/{slot}.
type DeleteAnswer struct {
	Slot    int  `json:"slot"`
	Deleted bool `json:"deleted"`
}

func (s *Server) deleteSlot(ctx context.Context, a sm.Actor, r *http.Request) (any, error) {
	slot, err := pathInt(r, "slot", sm.MaxSlots)
	if err != nil {
		return nil, err
	}
	if err := s.m.DeleteSlot(ctx, a, int(slot)); err != nil {
		return nil, err
	}
	return DeleteAnswer{Slot: int(slot), Deleted: true}, nil
}

func (s *Server) register(ctx context.Context, a sm.Actor, r *http.Request) (any, error) {
	sgc, err := sts.ParseSGC(r.PathValue("sgc"))
	if err != nil {
		return nil, pathError("sgc", err)
	}
	krn, err := sts.ParseKRN(r.PathValue("krn"))
	if err != nil {
		return nil, pathError("krn", err)
	}
	kt, err := pathInt(r, "kt", uint64(sts.DCTK))
	if err != nil {
		return nil, err
	}
	return s.m.LookupRegister(ctx, a, sm.RegisterKey{SGC: uint32(sgc), KRN: uint8(krn), KT: sts.KeyType(kt)})
}

// CounterAnswer is the answer of GET /v1/counter.
type CounterAnswer struct {
	// Transactions is how many token requests the module has answered
	// with tokens (sm.Module.TransactionCount).
	Transactions uint64 `json:"transactions"`
}

func (s *Server) counter(ctx context.Context, a sm.Actor, _ *http.Request) (any, error) {
	if a.Role != sm.Operator && a.Role != sm.Auditor {
		return nil, &sm.Error{Code: sm.CodeExtended, Kind: sm.ErrRole, Detail: a.Role.String() + " may not read the transaction counter"}
	}
	n, err := s.m.TransactionCount(ctx, a)
	return CounterAnswer{Transactions: n}, err
}

// AuditAnswer is the answer of GET /v1/audit/verify: the chain verifies
// up to Records, whose hash is Head; keep both outside the module to
// detect a later removal of the log's tail.
type AuditAnswer struct {
	LogID   string `json:"log_id"`
	Records int64  `json:"records"`
	Head    string `json:"head"`
}

func (s *Server) verifyAudit(ctx context.Context, a sm.Actor, _ *http.Request) (any, error) {
	rep, err := s.m.VerifyAudit(ctx, a)
	if err != nil {
		return nil, err
	}
	return AuditAnswer{LogID: hex.EncodeToString(rep.LogID[:]), Records: rep.Records, Head: hex.EncodeToString(rep.Head[:])}, nil
}

// SelftestAnswer is the answer of POST /v1/selftest.
type SelftestAnswer struct {
	sm.SelftestReport
	// Fault is why the module is in its error state, if it is.
	Fault string `json:"fault,omitempty"`
}

func (s *Server) selftest(ctx context.Context, a sm.Actor, _ *http.Request) (any, error) {
	rep, err := s.m.Selftest(ctx, a)
	if err != nil {
		return nil, err
	}
	ans := SelftestAnswer{SelftestReport: rep}
	if f := s.m.Fault(); f != nil {
		ans.Fault = f.Error()
	}
	return ans, nil
}
