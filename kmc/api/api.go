package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/sts"
)

// maxBody is the largest request body: a VKLOAD.REQ.1 mail body is a few
// kilobytes.
const maxBody = 256 << 10

// Options are the optional settings of New.
type Options struct {
	// Now is the clock of the request-id memory and of pending imports
	// (nil: time.Now). The KMC keeps its own clock.
	Now func() time.Time
	// Log receives the detail of internal errors, with the reference
	// their answer carries, and of refused Key Load File requests (never
	// key material); nil: internal errors go to the standard logger, the
	// rest is discarded.
	Log *log.Logger
}

// Server is the HTTP handler of the KMC's admin API.
type Server struct {
	k   *kmc.KMC
	x   *httpapi.API[kmc.Actor]
	mux *http.ServeMux
	now func() time.Time
	log *log.Logger
}

// route is one operation: method and path, and its handler.
type route struct {
	pattern string
	handler func(s *Server) http.HandlerFunc
}

// routes are the operations, in the order of Routes.
var routes = []route{
	{"GET /v1/identity", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.identity) }},
	{"GET /v1/pubkey", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.pubkey) }},
	{"GET /v1/keys", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.keys) }},
	{"POST /v1/keys", func(s *Server) http.HandlerFunc { return create(s, kmc.OpKeyRotate, s.rotate) }},
	{"GET /v1/supply-groups", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.supplyGroups) }},
	{"POST /v1/supply-groups", func(s *Server) http.HandlerFunc { return create(s, kmc.OpSGCAdd, s.addSupplyGroup) }},
	{"GET /v1/vending-keys", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.vendingKeys) }},
	{"POST /v1/vending-keys", func(s *Server) http.HandlerFunc { return create(s, kmc.OpVKGenerate, s.generate) }},
	{"GET /v1/vending-keys/imports", func(s *Server) http.HandlerFunc { return get(s, kmc.OpVKImport, s.listImports) }},
	{"POST /v1/vending-keys/imports", func(s *Server) http.HandlerFunc { return create(s, kmc.OpVKImport, s.startImport) }},
	{"POST /v1/vending-keys/imports/{id}/components", func(s *Server) http.HandlerFunc { return post(s, kmc.OpVKImport, s.addComponent) }},
	{"DELETE /v1/vending-keys/imports/{id}", func(s *Server) http.HandlerFunc { return get(s, kmc.OpVKImport, s.abandonImport) }},
	{"GET /v1/sms", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.sms) }},
	{"POST /v1/sms", func(s *Server) http.HandlerFunc { return create(s, kmc.OpSMRegister, s.register) }},
	{"GET /v1/sms/{ref}", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.sm) }},
	{"POST /v1/sms/{ref}/revoke", func(s *Server) http.HandlerFunc { return post(s, kmc.OpSMRevoke, s.revokeSM) }},
	{"PUT /v1/sms/{ref}/emails", func(s *Server) http.HandlerFunc { return post(s, kmc.OpSMEmails, s.setEmails) }},
	{"GET /v1/kuas", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.kuas) }},
	{"POST /v1/kuas", func(s *Server) http.HandlerFunc { return create(s, kmc.OpKUAGrant, s.grant) }},
	{"POST /v1/kuas/{id}/revoke", func(s *Server) http.HandlerFunc { return get(s, kmc.OpKUARevoke, s.revokeKUA) }},
	{"POST /v1/klfs", func(s *Server) http.HandlerFunc { return post(s, kmc.OpKLFIssue, s.issue) }},
	{"GET /v1/klfs", func(s *Server) http.HandlerFunc { return get(s, kmc.OpKLFList, s.issuedFiles) }},
	{"POST /v1/audit/verify", func(s *Server) http.HandlerFunc { return get(s, kmc.OpAuditVerify, s.verifyAudit) }},
	{"GET /v1/stsa-keys", func(s *Server) http.HandlerFunc { return get(s, kmc.OpRead, s.stsaKeys) }},
	{"POST /v1/stsa-keys", func(s *Server) http.HandlerFunc { return create(s, kmc.OpSTSAKey, s.addSTSAKey) }},
	{"DELETE /v1/stsa-keys/{id}", func(s *Server) http.HandlerFunc { return get(s, kmc.OpSTSAKey, s.removeSTSAKey) }},
	{"POST /v1/registry-updates", func(s *Server) http.HandlerFunc { return post(s, kmc.OpSMUpdate, s.applyUpdate) }},
	{"POST /v1/prune", func(s *Server) http.HandlerFunc { return post(s, kmc.OpPrune, s.prune) }},
}

// Routes lists the method and path of every operation (the OpenAPI test
// compares it with docs/kmc-api.yaml).
var Routes = func() []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i] = r.pattern
	}
	return out
}()

// New returns the admin API of k, authenticating callers with tokens.
func New(k *kmc.KMC, tokens *Tokens, o Options) *Server {
	s := &Server{k: k, mux: http.NewServeMux(), now: o.Now, log: o.Log}
	if s.now == nil {
		s.now = time.Now
	}
	s.x = &httpapi.API[kmc.Actor]{Tokens: tokens, Realm: "stskms-kmc", MaxBody: maxBody,
		Unauthorized: ErrorBody{Code: EUnauthenticated, Error: "authentication required: a valid bearer token"},
		Refusal:      s.refusal}
	for _, r := range routes {
		s.mux.HandleFunc(r.pattern, r.handler(s))
	}
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// refusal renders err, logging the detail of internal errors and refused
// Key Load File requests for the operator.
func (s *Server) refusal(err error) (int, any) {
	status, body := errorBody(err)
	if status == http.StatusInternalServerError {
		body.Ref = httpapi.NewRef()
		l := s.log
		if l == nil {
			l = log.Default()
		}
		l.Printf("kmc/api: %s, ref %s: %v", body.Code, body.Ref, err)
		return status, body
	}
	var e *kmc.Error
	if s.log != nil && errors.As(err, &e) {
		s.log.Printf("kmc/api: %s: %v", body.Code, err)
	}
	return status, body
}

// allow returns the role check of op (see allowed).
func allow(op string) func(kmc.Actor) error {
	return func(a kmc.Actor) error { return kmc.Allow(a, op) }
}

// get makes the handler of an operation without a body, allowed by op.
func get(s *Server, op string, fn func(ctx context.Context, a kmc.Actor, r *http.Request) (any, error)) http.HandlerFunc {
	return httpapi.HandleGet(s.x, fn, allow(op))
}

// post makes the handler of an operation with a JSON body of type T,
// allowed by op: the role is checked before the body is read.
func post[T any](s *Server, op string, fn func(ctx context.Context, a kmc.Actor, r *http.Request, req T) (any, error)) http.HandlerFunc {
	return httpapi.Handle(s.x, fn, allow(op))
}

// identified is a request that may carry a request id.
type identified interface{ requestID() string }

func (r RotateRequest) requestID() string         { return r.RequestID }
func (r AddSupplyGroupRequest) requestID() string { return r.RequestID }
func (r GenerateRequest) requestID() string       { return r.RequestID }
func (r StartImportRequest) requestID() string    { return r.RequestID }
func (r RegisterRequest) requestID() string       { return r.RequestID }
func (r GrantRequest) requestID() string          { return r.RequestID }

// requestID is the id of a creating request: the body's or the
// Idempotency-Key header's (the same if both are given), empty if none.
func requestID(r *http.Request, body string) (string, error) {
	id, err := httpapi.RequestID(r, body)
	if err == nil && id != "" {
		err = kmc.CheckRequestID(id)
	}
	if err != nil {
		return "", httpapi.FieldError("request_id", err)
	}
	return id, nil
}

// create is post for an operation that creates something: a retry under
// the same request id by the same caller gets the first call's answer.
func create[T identified](s *Server, op string, fn func(ctx context.Context, a kmc.Actor, r *http.Request, req T) (any, error)) http.HandlerFunc {
	return post(s, op, func(ctx context.Context, a kmc.Actor, r *http.Request, req T) (any, error) {
		id, err := requestID(r, req.requestID())
		if err != nil || id == "" {
			if err != nil {
				return nil, err
			}
			return fn(ctx, a, r, req)
		}
		return s.remembered(ctx, a, r.Pattern, id, req, func() (any, error) { return fn(ctx, a, r, req) })
	})
}

func (s *Server) identity(context.Context, kmc.Actor, *http.Request) (any, error) {
	id, err := s.k.Identity()
	if err != nil {
		return nil, err
	}
	ans := IdentityAnswer{Vendor: id.Vendor, ID: id.ID, Mode: id.Mode}
	if id.Mode == kmc.ModeTest {
		ans.Warning = kmc.TestModeWarning
	}
	return ans, nil
}

func (s *Server) pubkey(ctx context.Context, _ kmc.Actor, _ *http.Request) (any, error) {
	key, err := s.k.CurrentKey(ctx)
	if err != nil {
		return nil, err
	}
	text, err := kmc.FormatPublicKey(key)
	if err != nil {
		return nil, err
	}
	return PublicKeyAnswer{KMCID: key.KMCID.String(), Fingerprint: key.Fingerprint.String(), PKECDH: key.Body,
		Expiry: key.Expiry(), Text: string(text)}, nil
}

func (s *Server) keys(ctx context.Context, _ kmc.Actor, _ *http.Request) (any, error) {
	keys, err := s.k.Keys(ctx)
	if err != nil {
		return nil, err
	}
	current, err := s.k.CurrentKey(ctx)
	if err != nil && !errors.Is(err, kmc.ErrNoCurrentKey) {
		return nil, err
	}
	ans := KeysAnswer{Keys: []Key{}}
	now := s.now()
	for _, key := range keys {
		state := "valid"
		switch {
		case key.Seq == current.Seq:
			state = "current"
		case key.Expired(now):
			state = "expired"
		}
		ans.Keys = append(ans.Keys, Key{Seq: key.Seq, KMCID: key.KMCID.String(), Fingerprint: key.Fingerprint.String(),
			PKECDH: key.Body, Expiry: key.Expiry(), State: state, CreatedBy: key.CreatedBy})
	}
	return ans, nil
}

func (s *Server) rotate(ctx context.Context, a kmc.Actor, _ *http.Request, req RotateRequest) (any, error) {
	if req.LifetimeDays < 0 || req.LifetimeDays > 36500 {
		return nil, fmt.Errorf("%w: lifetime of %d days", kmc.ErrInvalid, req.LifetimeDays)
	}
	key, err := s.k.RotateKey(ctx, a.String(), time.Duration(req.LifetimeDays)*24*time.Hour)
	if err != nil {
		return nil, err
	}
	return Key{Seq: key.Seq, KMCID: key.KMCID.String(), Fingerprint: key.Fingerprint.String(), PKECDH: key.Body,
		Expiry: key.Expiry(), State: "current", CreatedBy: key.CreatedBy}, nil
}

func (s *Server) supplyGroups(ctx context.Context, _ kmc.Actor, _ *http.Request) (any, error) {
	sgs, err := s.k.SupplyGroups(ctx)
	if err != nil {
		return nil, err
	}
	return SupplyGroupsAnswer{SupplyGroups: listOf(sgs, func(g kmc.SupplyGroup) SupplyGroup { return SupplyGroup(g) })}, nil
}

func (s *Server) addSupplyGroup(ctx context.Context, a kmc.Actor, _ *http.Request, req AddSupplyGroupRequest) (any, error) {
	g, err := s.k.AddSupplyGroup(ctx, a.String(), req.SGC, req.Name)
	if err != nil {
		return nil, err
	}
	return SupplyGroup(g), nil
}

// querySGCs returns the supply group of the query parameter sgc (exactly
// 6 digits, sts.ParseSGC), or none if absent.
func querySGCs(r *http.Request) ([]int, error) {
	v := r.URL.Query().Get("sgc")
	if v == "" {
		return nil, nil
	}
	sgc, err := sts.ParseSGC(v)
	if err != nil {
		return nil, fmt.Errorf("%w: query sgc: %w", kmc.ErrInvalid, err)
	}
	return []int{int(sgc)}, nil
}

func (s *Server) vendingKeys(ctx context.Context, _ kmc.Actor, r *http.Request) (any, error) {
	sgcs, err := querySGCs(r)
	if err != nil {
		return nil, err
	}
	vks, err := s.k.VendingKeys(ctx, sgcs...)
	if err != nil {
		return nil, err
	}
	return VendingKeysAnswer{VendingKeys: listOf(vks, vendingKeyOf)}, nil
}

func (s *Server) generate(ctx context.Context, a kmc.Actor, _ *http.Request, req GenerateRequest) (any, error) {
	attrs, err := req.Attributes(s.now())
	if err != nil {
		return nil, err
	}
	vk, err := s.k.GenerateVendingKey(ctx, a.String(), attrs)
	if err != nil {
		return nil, err
	}
	return vendingKeyOf(vk), nil
}

// officer is the name an officer's component is recorded under.
func officer(a kmc.Actor) string { return strings.TrimPrefix(a.String(), a.Role.String()+":") }

func (s *Server) listImports(ctx context.Context, _ kmc.Actor, _ *http.Request) (any, error) {
	list, err := s.k.PendingImports(ctx, s.now())
	if err != nil {
		return nil, err
	}
	return ImportsAnswer{Imports: listOf(list, importAnswer)}, nil
}

func (s *Server) startImport(ctx context.Context, a kmc.Actor, _ *http.Request, req StartImportRequest) (any, error) {
	attrs, err := req.Attributes(s.now())
	if err != nil {
		return nil, err
	}
	var kcv []byte
	if req.KCV != "" {
		if kcv, err = hex.DecodeString(req.KCV); err != nil {
			return nil, fmt.Errorf("%w: the combined key's KCV must be hex", kmc.ErrInvalid)
		}
	}
	c, err := req.Component.KeyComponent(officer(a))
	if err != nil {
		return nil, err
	}
	defer clear(c.Value)
	now := s.now()
	p, err := s.k.StartImport(ctx, a.String(), attrs, req.Quorum, kcv, c, now, now.Add(ImportLifetime))
	if err != nil {
		return nil, err
	}
	return importAnswer(p), nil
}

func (s *Server) addComponent(ctx context.Context, a kmc.Actor, r *http.Request, req ComponentRequest) (any, error) {
	c, err := req.Component.KeyComponent(officer(a))
	if err != nil {
		return nil, err
	}
	defer clear(c.Value)
	p, vk, done, err := s.k.AddImportComponent(ctx, a.String(), r.PathValue("id"), c, s.now())
	if err != nil {
		return nil, err
	}
	ans := importAnswer(p)
	if done {
		key := vendingKeyOf(vk)
		ans.State, ans.Key, ans.Expires = "complete", &key, time.Time{}
	}
	return ans, nil
}

func (s *Server) abandonImport(ctx context.Context, a kmc.Actor, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := s.k.AbandonImport(ctx, a.String(), id, s.now()); err != nil {
		return nil, err
	}
	return ImportAnswer{ID: id, State: "abandoned", Officers: []string{}}, nil
}

func (s *Server) sms(ctx context.Context, _ kmc.Actor, _ *http.Request) (any, error) {
	list, err := s.k.SMs(ctx)
	if err != nil {
		return nil, err
	}
	return SMsAnswer{SMs: listOf(list, smOf)}, nil
}

func (s *Server) sm(ctx context.Context, _ kmc.Actor, r *http.Request) (any, error) {
	m, err := s.k.FindSM(ctx, r.PathValue("ref"))
	if err != nil {
		return nil, err
	}
	return smOf(m), nil
}

func (s *Server) register(ctx context.Context, a kmc.Actor, _ *http.Request, req RegisterRequest) (any, error) {
	variant, err := kmc.ParseVariant(req.Variant)
	if err != nil {
		return nil, err
	}
	vreq, err := kmc.ParseRequest([]byte(req.Request))
	if err != nil {
		return nil, err
	}
	id, err := s.k.Identity()
	if err != nil {
		return nil, err
	}
	virtual := kmc.DefaultVirtual(id.Mode, req.Certified)
	if req.Virtual != nil {
		virtual = *req.Virtual
	}
	m, err := s.k.RegisterSMFromRequest(ctx, a.String(), vreq, kmc.Registration{Variant: variant, Virtual: virtual,
		Certified: req.Certified, Emails: req.Emails})
	if err != nil {
		return nil, err
	}
	return smOf(m), nil
}

func (s *Server) revokeSM(ctx context.Context, a kmc.Actor, r *http.Request, req RevokeSMRequest) (any, error) {
	m, err := s.k.RevokeSM(ctx, a.String(), r.PathValue("ref"), req.Reason)
	if err != nil {
		return nil, err
	}
	return smOf(m), nil
}

func (s *Server) setEmails(ctx context.Context, a kmc.Actor, r *http.Request, req SetEmailsRequest) (any, error) {
	m, err := s.k.SetSMEmails(ctx, a.String(), r.PathValue("ref"), req.Emails)
	if err != nil {
		return nil, err
	}
	return smOf(m), nil
}

func (s *Server) kuas(ctx context.Context, _ kmc.Actor, r *http.Request) (any, error) {
	list, err := s.k.KUAs(ctx, r.URL.Query().Get("sm"))
	if err != nil {
		return nil, err
	}
	return KUAsAnswer{KUAs: listOf(list, kuaOf)}, nil
}

func (s *Server) grant(ctx context.Context, a kmc.Actor, _ *http.Request, req GrantRequest) (any, error) {
	types, err := kmc.ParseKeyTypes(strings.Join(req.Types, ","))
	if err != nil {
		return nil, err
	}
	k, err := s.k.Grant(ctx, a.String(), req.SM, kmc.KUA{SGC: req.SGC, Types: types, From: req.From, Until: req.Until})
	if err != nil {
		return nil, err
	}
	return kuaOf(k), nil
}

func (s *Server) revokeKUA(ctx context.Context, a kmc.Actor, r *http.Request) (any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: authorisation id %q", kmc.ErrInvalid, r.PathValue("id"))
	}
	k, err := s.k.RevokeKUA(ctx, a.String(), id)
	if err != nil {
		return nil, err
	}
	return kuaOf(k), nil
}

// klfRefPrefix marks the delivery references of files issued and registry
// updates applied through the API, apart from the gateway's.
const klfRefPrefix = "kmc-api:"

func (s *Server) issue(ctx context.Context, a kmc.Actor, r *http.Request, req IssueRequest) (any, error) {
	id, err := requestID(r, req.RequestID)
	if err != nil {
		return nil, err
	}
	vreq, err := kmc.ParseRequest([]byte(req.Request))
	if err != nil {
		return nil, err
	}
	o := kmc.IssueOptions{}
	if id != "" {
		o.Ref = deliveryRef(a, id)
	}
	klf, err := s.k.IssueKLFWith(ctx, a.String(), vreq, o)
	if err != nil {
		return nil, err
	}
	return klfOf(klf), nil
}

func (s *Server) issuedFiles(ctx context.Context, _ kmc.Actor, r *http.Request) (any, error) {
	files, err := s.k.IssuedFiles(ctx, r.URL.Query().Get("sm"))
	if err != nil {
		return nil, err
	}
	return IssuedFilesAnswer{Files: listOf(files, func(f kmc.IssuedFile) IssuedFile { return IssuedFile(f) })}, nil
}

func (s *Server) verifyAudit(ctx context.Context, _ kmc.Actor, _ *http.Request) (any, error) {
	rep, err := s.k.AuditLog().VerifyTree(ctx, nil)
	ans := AuditAnswer{OK: err == nil, LogID: hex.EncodeToString(rep.LogID[:]), Records: rep.Records,
		Head: hex.EncodeToString(rep.Head[:])}
	var ce *audit.ChainError
	var cpe *audit.CheckpointError
	switch {
	case errors.As(err, &ce):
		ans.BrokenAt, ans.Kind, ans.Reason = ce.Seq, ce.Kind.String(), ce.Reason
	case errors.As(err, &cpe):
		ans.Kind, ans.Reason = cpe.Kind.String(), cpe.Reason
	case err != nil:
		return nil, err
	}
	return ans, nil
}
