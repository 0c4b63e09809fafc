package sts6

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// The field layout of every command is in docs/sm.md ("STS6-style API");
// testdata/*.txt pins each with frames.

// Limits of the text fields.
const (
	maxRequestID = sm.MaxRequestID
	maxRecord    = 4096
	maxToken     = 256
	// maxStaged is the most bytes of Key Load File records one connection
	// may stage with SM?KL before SM?KF.
	maxStaged = 4 << 20
)

// op is a decoded command, ready to run for a connection.
type op func(ctx context.Context, s *Server, c *session) ([]Field, error)

// command is a command of the API: who may call it and its decoder, which
// reads every field before anything runs.
type command struct {
	// roles may call the command; nil: anyone, unauthenticated too.
	roles  []sm.Role
	decode func(r *reader) op
}

var (
	operators  = []sm.Role{sm.Operator}
	officers   = []sm.Role{sm.Officer}
	readers    = []sm.Role{sm.Operator, sm.Auditor}
	anyoneRole []sm.Role
)

// commands are the SM? commands served.
var commands = map[string]command{
	"DI": {anyoneRole, decodeDI},
	"VC": {operators, decodeVC},
	"VM": {operators, decodeVM},
	"VK": {operators, decodeVK},
	"VT": {operators, decodeVT},
	"VD": {operators, decodeVD},
	"GA": {readers, decodeGA},
	"CQ": {readers, decodeCQ},
	"KC": {officers, decodeKC},
	"KR": {officers, decodeKR},
	"KL": {officers, decodeKL},
	"KF": {officers, decodeKF},
	"KX": {officers, decodeKX},
}

// notSupported are commands of 600-8-6 modules this module does not have:
// QL (the module's own log; ours is the audit log) and signed instructions
// (CI). They are answered EE "not supported". The manufacturing firmware
// commands (MK, ML, MG) are not in this list: they drive a key component
// entry device on the module's own port, which a software module has not,
// and their layout is not public; they are unknown commands here, and a
// manufacturing module works through the commands above (docs/sm.md §13).
var notSupported = map[string]bool{"QL": true, "CI": true}

// ErrNotSupported answers a command this module does not have.
var ErrNotSupported = errors.New("sts6: command not supported by this module")

// lookupCommand finds a query's command by its code alone, before any
// field is read: the command, or the refusal (not supported, unknown).
func lookupCommand(code string) (command, error) {
	cmd, ok := commands[code]
	if !ok {
		if notSupported[code] {
			return cmd, fmt.Errorf("%w: SM?%s", ErrNotSupported, code)
		}
		return cmd, fmt.Errorf("%w: unknown command SM?%s", ErrNotSupported, code)
	}
	return cmd, nil
}

// decodeFields decodes the fields of a query of the command: its op, or the
// refusal (a field problem).
func (cmd command) decodeFields(q Frame) (op, error) {
	r := &reader{f: q.Fields}
	o := cmd.decode(r)
	if err := r.done(); err != nil {
		return nil, err
	}
	return o, nil
}

// decodeCommand decodes the fields of a query: the command's op, or the
// refusal (unknown command, a field problem).
func decodeCommand(q Frame) (command, op, error) {
	cmd, err := lookupCommand(q.Cmd)
	if err != nil {
		return cmd, nil, err
	}
	o, err := cmd.decodeFields(q)
	return cmd, o, err
}

func decodeDI(r *reader) op {
	return func(_ context.Context, s *Server, _ *session) ([]Field, error) {
		id := s.m.Identify()
		test := uint64(0)
		if id.Test {
			test = 1
		}
		return []Field{Print(id.SMID.String()), Print(id.Variant.String()), Print(id.Firmware[sm.APISTS6]), Print(id.Model), Num(test)}, nil
	}
}

// Token carrier types (IEC 62055-41): 1 magnetic card, 2 numeric.
const (
	tctMagnetic = 1
	tctNumeric  = 2
)

func decodeVC(r *reader) op {
	mk := r.meter()
	ea := r.num("EA", 99)
	tct := r.rangeNum("TCT", tctMagnetic, tctNumeric)
	sub := r.num("subclass", 15)
	req := sm.CreditRequest{Meter: mk, Sub: sts.Subclass(sub)}
	if r.more() && r.f[r.i].Type == 'P' {
		req.Currency = r.currency("amount")
	} else {
		req.Amount = r.num("amount", 1<<62)
	}
	req.ID = r.optText("request id", maxRequestID)
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		if err := s.checkCarrier(ctx, c.actor, mk.RegisterKey, sts.EA(ea), tct); err != nil {
			return nil, err
		}
		ans, err := s.m.Credit(ctx, c.actor, req)
		if err != nil {
			return nil, err
		}
		f := []Field{tokenField(ans, 0), Num(uint64(ans.TID)), Num(uint64(ans.Subclass))}
		if ans.Currency != "" {
			f = append(f, Print(ans.Currency))
		} else {
			f = append(f, Num(ans.Amount))
		}
		return append(append(f, Num(uint64(ans.CLM))), issuedTail(ans)...), nil
	}
}

// checkCarrier checks the EA and TCT a vending client gives against the
// register: the EA must be the register's (63), and a DCTK token is for
// magnetic card carriers only (05, IEC 62055-41: a POS never encrypts
// DCTK tokens for other carriers).
func (s *Server) checkCarrier(ctx context.Context, a sm.Actor, k sm.RegisterKey, ea sts.EA, tct uint64) error {
	reg, err := s.m.LookupRegister(ctx, a, k)
	if err != nil {
		return err
	}
	if reg.EA != ea {
		return ferr(CodeFieldRange, "EA%02d given, %v uses EA%02d", uint8(ea), k, uint8(reg.EA))
	}
	if k.KT == sts.DCTK && tct != tctMagnetic {
		return &sm.Error{Code: sm.CodeKeyType, Kind: sm.ErrKeyType, Detail: "DCTK tokens are for magnetic card carriers (TCT 1) only"}
	}
	return nil
}

// tokenField is token i of an answer as an N field of its 20 digits (66
// bits do not fit a uint64).
func tokenField(ans sm.Issued, i int) Field { return Field{'N', ans.Tokens[i]} }

// issuedTail are the last fields of every token reply: request id,
// audit record number, replayed flag.
func issuedTail(ans sm.Issued) []Field {
	return []Field{Print(ans.RequestID), Num(uint64(ans.AuditSeq)), flagField(ans.Replayed)}
}

func flagField(b bool) Field {
	if b {
		return Num(1)
	}
	return Num(0)
}

func decodeVM(r *reader) op {
	mk := r.meter()
	sub := r.num("subclass", 15)
	value := r.num("value", 1<<62)
	id := r.optText("request id", maxRequestID)
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		ans, err := s.m.Manage(ctx, c.actor, sm.ManagementRequest{ID: id, Meter: mk, Sub: sts.Subclass(sub), Value: value})
		if err != nil {
			return nil, err
		}
		return append([]Field{tokenField(ans, 0), Num(uint64(ans.TID)), Num(uint64(ans.Subclass))}, issuedTail(ans)...), nil
	}
}

func decodeVK(r *reader) op {
	mk := r.meter()
	to := r.register()
	ti := r.num("new TI", 99)
	three := r.flag("three tokens")
	id := r.optText("request id", maxRequestID)
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		ans, err := s.m.KeyChange(ctx, c.actor, sm.KeyChangeRequest{ID: id, Meter: mk, To: to, TI: uint8(ti), ThreeTokens: three})
		if err != nil {
			return nil, err
		}
		f := []Field{flagField(ans.Rollover), Num(uint64(len(ans.Tokens)))}
		for i := range ans.Tokens {
			f = append(f, tokenField(ans, i))
		}
		return append(f, issuedTail(ans)...), nil
	}
}

func decodeVT(r *reader) op {
	mk := r.meter()
	tok, _ := r.next("token", 'N')
	if r.err == nil && len(tok) != 20 {
		r.err = ferr(CodeFieldRange, "field %d (token) has %d digits, want 20", r.i, len(tok))
	}
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		v, err := s.m.Verify(ctx, c.actor, sm.VerifyRequest{Meter: mk, Token: tok})
		if err != nil {
			return nil, err
		}
		js, err := json.Marshal(v.Fields())
		if err != nil {
			return nil, err
		}
		return []Field{Num(uint64(v.Class)), Num(uint64(v.Subclass)), Print(printable(v.Name)), Print(printable(string(js)))}, nil
	}
}

// decodeVD is a class 1 test/display token (IEC 62055-41; HTTP POST
// /v1/test): subclass 0 (2-digit manufacturer code, 36-bit control) or 1
// (4-digit manufacturer code, 28-bit control). Its layout is ours: public
// STS6 code shows no such command. The fields take the widest values of
// either subclass; the module checks them against the subclass, as over
// HTTP (48 another subclass, 63 a value out of range).
func decodeVD(r *reader) op {
	sub := r.num("subclass", 15)
	mfr := r.num("manufacturer code", 9999)
	control := r.num("control", 1<<36-1)
	id := r.optText("request id", maxRequestID)
	req := sm.TestRequest{ID: id, Sub: sts.Subclass(sub), MfrCode: uint16(mfr), Control: control}
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		ans, err := s.m.Test(ctx, c.actor, req)
		if err != nil {
			return nil, err
		}
		return append([]Field{tokenField(ans, 0), Num(uint64(ans.Subclass))}, issuedTail(ans)...), nil
	}
}

func decodeGA(r *reader) op {
	k := r.register()
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		reg, err := s.m.LookupRegister(ctx, c.actor, k)
		if err != nil {
			return nil, err
		}
		return []Field{Num(uint64(reg.BDT)), Num(uint64(reg.DKGA)), Num(uint64(reg.EA)), Num(uint64(reg.KEN)),
			Date(reg.ACT), Date(reg.IUT), Num(uint64(reg.CLM)), Num(uint64(reg.CLMLoaded)), Hex(reg.KCV),
			Num(uint64(reg.Slot)), Print(printable(reg.KMCID))}, nil
	}
}

func decodeCQ(r *reader) op {
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		n, err := s.m.TransactionCount(ctx, c.actor)
		if err != nil {
			return nil, err
		}
		return []Field{Num(n)}, nil
	}
}

func decodeKC(r *reader) op {
	record := r.text("PK.ECDH.1 record", maxRecord)
	fp := r.hex("fingerprint", 16)
	testKMC := r.flag("test KMC declared")
	slot := r.num("slot", sm.MaxSlots)
	second := r.text("second officer token", maxToken)
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		a, err := s.dual(c.actor, second)
		if err != nil {
			return nil, err
		}
		sl, err := s.m.InstallSlot(ctx, a, sm.InstallRequest{Record: record, Fingerprint: fp, TestKMC: testKMC, Slot: int(slot)})
		if err != nil {
			return nil, err
		}
		c.unstage(sl.Number)
		return []Field{Num(uint64(sl.Number)), Print(string(sl.State)), Hex(sl.Fingerprint.String()), Date(sl.Expiry),
			Print(sl.KMCID.String())}, nil
	}
}

func decodeKR(r *reader) op {
	slot := r.rangeNum("slot", 1, sm.MaxSlots)
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		c.unstage(int(slot))
		req, err := s.m.Request(ctx, c.actor, int(slot))
		if err != nil {
			return nil, err
		}
		body, err := req.Format()
		if err != nil {
			return nil, err
		}
		return []Field{Print(body), Date(req.Time)}, nil
	}
}

func decodeKL(r *reader) op {
	slot := int(r.rangeNum("slot", 1, sm.MaxSlots))
	var recs []string
	for recs = append(recs, r.text("record", maxRecord)); r.more(); {
		recs = append(recs, r.text("record", maxRecord))
	}
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		n, err := c.stage(slot, recs)
		if err != nil {
			return nil, err
		}
		return []Field{Num(uint64(n))}, nil
	}
}

func decodeKF(r *reader) op {
	slot := int(r.rangeNum("slot", 1, sm.MaxSlots))
	second := r.text("second officer token", maxToken)
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		recs := c.staged[slot]
		c.unstage(slot)
		a, err := s.dual(c.actor, second)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, &sm.Error{Code: sm.CodeSlotState, Kind: sm.ErrSlotState, Detail: fmt.Sprintf("no Key Load File records staged for slot %d (SM?KL)", slot)}
		}
		regs, err := s.m.LoadKLF(ctx, a, slot, recs)
		if err != nil {
			return nil, err
		}
		return []Field{Num(uint64(len(regs)))}, nil
	}
}

func decodeKX(r *reader) op {
	slot := int(r.rangeNum("slot", 1, sm.MaxSlots))
	return func(ctx context.Context, s *Server, c *session) ([]Field, error) {
		c.unstage(slot)
		return []Field{}, s.m.DeleteSlot(ctx, c.actor, slot)
	}
}

// dual returns the caller of a dual-control command: the connection's
// officer and a second, distinct officer authenticated by a bearer token
// (sm.Module.DualControl: both registered with the module).
func (s *Server) dual(first sm.Actor, token string) (sm.Actor, error) {
	var second sm.Actor
	if s.cfg.Officers != nil {
		second, _ = s.cfg.Officers.Actor(token)
	}
	return s.m.DualControl(first, second)
}

// printable makes s fit a P field: bytes outside 0x20..0x7E and "~"
// become "?".
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '~' {
			return '?'
		}
		return r
	}, s)
}

// refusal returns the status and text of an error: a frame or field
// problem, a module refusal (its sm.Code), a token value out of range
// (63); anything else is an internal error whose words are not shown.
func refusal(err error) (sm.Code, string) {
	var fe *Error
	var me *sm.Error
	switch {
	case errors.As(err, &fe):
		return fe.Code, fe.Detail
	case errors.As(err, &me):
		return me.Code, me.Text()
	case errors.Is(err, sts.ErrRange):
		return sm.CodeRange, err.Error()
	case errors.Is(err, ErrNotSupported):
		return sm.CodeExtended, err.Error()
	}
	return sm.CodeExtended, "internal error"
}
