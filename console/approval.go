package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stskms/stskms/store"
)

// Two-person approvals (docs/console.md, "Two-person approvals"): a Dual
// action is not done when its form is posted. The console describes the
// operation (Action.Describe), keeps it as a draft proposal and asks the
// proposer's passkey to sign a challenge derived from the operation's
// digest; the proposal is then pending until a different officer's
// passkey signs the approval challenge of the same digest, and only then
// does Do run, once, with both names.

// Operation is the canonical description of one run of a Dual action:
// what both officers sign.
type Operation struct {
	// Kind is the operation's stable name: "kmc.key.rotate".
	Kind string
	// Params are its canonical parameters: the form Do receives on
	// approval, and nothing else. They hold no secret: an operation that
	// carries one (a key component, an uploaded file) names it by its hash
	// and finds it by that hash when done.
	Params map[string]string
	// Words say what it does, for people.
	Words string
	// Attachment is a file the operation carries that is no secret but
	// too large for a parameter (a Key Load File), or nil. It is kept
	// with the proposal; the console names it by its SHA-256 in the
	// parameter AttachmentParam, so the digest covers it, and gives it
	// to Do as Call.Attachment once its hash is checked again.
	Attachment []byte
}

// AttachmentParam is the parameter that names an Operation's Attachment:
// its SHA-256 in lower-case hex. Describe does not set it.
const AttachmentParam = "attachment_sha256"

// attachmentHash is the value of AttachmentParam for file.
func attachmentHash(file []byte) string {
	h := sha256.Sum256(file)
	return hex.EncodeToString(h[:])
}

// DefaultProposalLifetime is how long a proposal waits for its approval
// (Config.ProposalLifetime).
const DefaultProposalLifetime = time.Hour

// Domain separation of the digest and the challenges, and the two steps a
// passkey signs.
const (
	digestDomain    = "stskms console operation v1"
	challengeDomain = "stskms console approval v1"
	stepPropose     = 'p'
	stepApprove     = 'a'
	// ceremonyApproval is the ceremony kind of a passkey step on a
	// proposal; the ceremony is bound to the session that began it.
	ceremonyApproval = "approval"
)

// operationDigest is the SHA-256 of p's operation on site: the domain, a
// zero byte, then the site's name, the page, the action, the operation
// checked by Allow, the kind and the words, then the number of parameters
// and each parameter's key and value in byte order of the keys; every
// string is preceded by its length in bytes as a 4-byte big-endian
// integer, and so is the number of parameters.
func operationDigest(site string, p Proposal) []byte {
	h := sha256.New()
	h.Write([]byte(digestDomain))
	h.Write([]byte{0})
	field := func(s string) {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
		h.Write([]byte(s))
	}
	for _, f := range []string{site, p.Page, p.Action, p.Op, p.Kind, p.Words} {
		field(f)
	}
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p.Params))))
	for _, k := range slices.Sorted(maps.Keys(p.Params)) {
		field(k)
		field(p.Params[k])
	}
	return h.Sum(nil)
}

// approvalChallenge is the WebAuthn challenge of one step of proposal id
// with digest: SHA-256 of the domain, the digest, the id and the step's
// byte ('p' for propose, 'a' for approve). A signature of one proposal or
// step is no signature of another.
func approvalChallenge(digest []byte, id string, step byte) []byte {
	h := sha256.New()
	h.Write([]byte(challengeDomain))
	h.Write(digest)
	h.Write([]byte(id))
	h.Write([]byte{step})
	return h.Sum(nil)
}

// checkOperation refuses an Operation a Describe should not return.
func checkOperation(o Operation) error {
	if o.Kind == "" || o.Words == "" {
		return errors.New("console: an operation needs a kind and words")
	}
	for k := range o.Params {
		if k == "" || k == "csrf" || k == AttachmentParam {
			return fmt.Errorf("console: operation %s: parameter name %q", o.Kind, k)
		}
	}
	return nil
}

// form is the form Do receives: the stored canonical parameters.
func (p Proposal) form() url.Values {
	f := url.Values{}
	for k, v := range p.Params {
		f.Set(k, v)
	}
	return f
}

// propose describes the operation a Dual action's form asks for and keeps
// it as its proposer's draft; the proposal's page asks for the passkey.
func (s *Server) propose(w http.ResponseWriter, r *http.Request, sess *session, p *sitePage, a *Action) {
	o, err := a.Describe(r.Context(), Call{Actor: sess.actor(), Form: r.PostForm})
	if err != nil {
		s.refusedAction(w, r, sess, p, a.Op, err)
		return
	}
	if err := checkOperation(o); err != nil {
		s.failed(w, r, err)
		return
	}
	now := s.st.now()
	prop := Proposal{ID: base64.RawURLEncoding.EncodeToString(randomBytes(16)), Page: p.Path, Action: a.Name, Op: a.Op,
		Kind: o.Kind, Params: o.Params, Words: o.Words, Proposer: sess.account.Name,
		Created: now, Expires: now.Add(s.cfg.ProposalLifetime)}
	if prop.Params == nil {
		prop.Params = map[string]string{}
	}
	if o.Attachment != nil {
		prop.Params[AttachmentParam] = attachmentHash(o.Attachment)
		prop.attachment = o.Attachment
	}
	prop.Digest = operationDigest(s.cfg.Site.Name, prop)
	if err := s.st.addDraft(r.Context(), prop); err != nil {
		s.failed(w, r, err)
		return
	}
	http.Redirect(w, r, "/console/approvals/"+prop.ID, http.StatusSeeOther)
}

// Refusals of an approval step.
var (
	errSelfApproval = errors.New("console: you proposed this operation; a different officer must approve it")
	errNotProposer  = errors.New("console: only the proposer signs or withdraws a proposal")
	errApproverRole = errors.New("console: your role may not do this operation")
	errProposerGone = errors.New("console: the proposer's account is revoked or may no longer do this operation")
	errWrongAnswer  = errors.New("console: this passkey answer is not for this proposal (start again)")
	errAssertion    = errors.New("console: the passkey's signature was refused")
	errAttachment   = errors.New("console: the file kept with the proposal is not the one both officers signed (its SHA-256 differs); propose again")
)

// approvalStatus is the HTTP status of an approval step's refusal (0: a
// server failure).
func approvalStatus(err error) int {
	switch {
	case errors.Is(err, errNoProposal):
		return http.StatusNotFound
	case errors.Is(err, errNotPending), errors.Is(err, errProposerGone), errors.Is(err, errAttachment):
		return http.StatusConflict
	case errors.Is(err, errSelfApproval), errors.Is(err, errNotProposer), errors.Is(err, errApproverRole), errors.Is(err, errAssertion):
		return http.StatusForbidden
	case errors.Is(err, errWrongAnswer), errors.Is(err, errFormChanged):
		return http.StatusBadRequest
	}
	return 0
}

// step is what the signed-in person may do next with a proposal.
type step struct {
	kind     byte // stepPropose or stepApprove
	action   *Action
	proposer Account
}

// stepOf says which step sess may take on p now, or why none.
func (s *Server) stepOf(ctx context.Context, sess *session, p Proposal) (step, error) {
	a := s.dualAction(p.Page, p.Action)
	if a == nil || !bytes.Equal(p.Digest, operationDigest(s.cfg.Site.Name, p)) {
		return step{}, errNotPending // the site changed, or the row did
	}
	allowed := s.cfg.Site.Allow(sess.actor(), a.Op) == nil
	switch p.State(s.st.now()) {
	case StateDraft:
		if p.Proposer != sess.account.Name {
			return step{}, errNotProposer
		}
		if !allowed {
			return step{}, errApproverRole
		}
		return step{kind: stepPropose, action: a, proposer: sess.account}, nil
	case StatePending:
		if p.Proposer == sess.account.Name {
			return step{}, errSelfApproval
		}
		if !allowed {
			return step{}, errApproverRole
		}
		proposer, err := accountNamed(ctx, s.st.db, p.Proposer)
		if err != nil && !errors.Is(err, ErrNoAccount) {
			return step{}, err
		}
		if err != nil || !proposer.Active() || s.cfg.Site.Allow(proposer.Actor(), a.Op) != nil {
			return step{}, errProposerGone
		}
		return step{kind: stepApprove, action: a, proposer: proposer}, nil
	}
	return step{}, errNotPending
}

// dualAction is the Dual action of page and name, nil if none.
func (s *Server) dualAction(page, name string) *Action {
	p, ok := s.pages[page]
	if !ok {
		return nil
	}
	for i := range p.Actions {
		if a := &p.Actions[i]; a.Name == name && a.Dual {
			return a
		}
	}
	return nil
}

// stepRefused answers a refused approval step as JSON, auditing refusals
// of a person's attempt.
func (s *Server) stepRefused(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	status := approvalStatus(err)
	if status == 0 {
		s.cfg.Log.Printf("console: %s %s: %v", r.Method, r.URL.Path, err)
		jsonError(w, http.StatusInternalServerError, "console: the console could not do this; the server's log says why")
		return
	}
	if status != http.StatusNotFound {
		s.refused(r, sess.actor(), "console.approval "+r.PathValue("id"), err.Error())
	}
	jsonError(w, status, err.Error())
}

// checkHeader checks a passkey step's CSRF token, sent in the
// X-CSRF-Token header; a mismatch is refused and audited.
func (s *Server) checkHeader(w http.ResponseWriter, r *http.Request, sess *session) bool {
	if tokenMatches(r.Header.Get("X-CSRF-Token"), sess.csrf) {
		return true
	}
	s.refused(r, sess.actor(), r.URL.Path, "missing or wrong CSRF token")
	jsonError(w, http.StatusForbidden, "console: the request was not sent from this console (CSRF token missing or wrong); reload the page")
	return false
}

// tokenMatches compares a CSRF token in constant time.
func tokenMatches(tok, want string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1
}

// loadStep reads the proposal of the request's path and the step sess may
// take on it, or answers why not.
func (s *Server) loadStep(w http.ResponseWriter, r *http.Request, sess *session) (Proposal, step, bool) {
	p, err := s.st.proposal(r.Context(), s.st.db, r.PathValue("id"))
	var st step
	if err == nil {
		st, err = s.stepOf(r.Context(), sess, p)
	}
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return p, st, false
	}
	return p, st, true
}

// approvalHalf is the server's half of a passkey step on a proposal.
type approvalHalf struct {
	Session webauthn.SessionData `json:"session"`
	ID      string               `json:"id"`
	Step    byte                 `json:"step"`
}

// approvalBegin asks the signed-in person's passkeys to sign the
// challenge of their step on the proposal.
func (s *Server) approvalBegin(w http.ResponseWriter, r *http.Request, sess *session) {
	if !s.checkHeader(w, r, sess) {
		return
	}
	p, st, ok := s.loadStep(w, r, sess)
	if !ok {
		return
	}
	u, err := s.st.userOf(r.Context(), s.st.db, sess.account.Name)
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	assertion, sd, err := s.wa.BeginLogin(u, webauthn.WithChallenge(approvalChallenge(p.Digest, p.ID, st.kind)),
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	s.startCeremony(w, r, ceremonyApproval, sess.idHash, approvalHalf{Session: *sd, ID: p.ID, Step: st.kind}, assertion)
}

// approvalFinish checks the passkey's signature of the challenge
// recomputed from the stored proposal, then signs the draft or approves
// the pending proposal.
func (s *Server) approvalFinish(w http.ResponseWriter, r *http.Request, sess *session) {
	if !s.checkHeader(w, r, sess) {
		return
	}
	var half approvalHalf
	bound, ok := s.takeCeremony(w, r, ceremonyApproval, &half)
	if !ok {
		return
	}
	p, st, ok := s.loadStep(w, r, sess)
	if !ok {
		return
	}
	want := base64.RawURLEncoding.EncodeToString(approvalChallenge(p.Digest, p.ID, st.kind))
	if !bytes.Equal(bound, sess.idHash) || half.ID != p.ID || half.Step != st.kind || half.Session.Challenge != want {
		s.stepRefused(w, r, sess, errWrongAnswer)
		return
	}
	cred, err := s.verifyAssertion(r, sess, half.Session, r.Body)
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	if st.kind == stepPropose {
		err = s.st.log.Tx(r.Context(), func(tx *store.Tx) error {
			return s.st.signProposal(r.Context(), tx, p, sess.actor().String(), cred)
		})
		if err != nil {
			s.stepRefused(w, r, sess, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"next": "/console/approvals/" + p.ID})
		return
	}
	s.approve(w, r, sess, p, st, cred)
}

// verifyAssertion checks the passkey answer in body against sd, for one
// of the signed-in person's passkeys.
func (s *Server) verifyAssertion(r *http.Request, sess *session, sd webauthn.SessionData, body io.Reader) (*webauthn.Credential, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBody(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errWrongAnswer, err)
	}
	u, err := s.st.userOf(r.Context(), s.st.db, sess.account.Name)
	if err != nil {
		return nil, err
	}
	cred, err := s.wa.ValidateLogin(u, sd, parsed)
	if err == nil && cred.Authenticator.CloneWarning {
		err = errors.New("the signature counter went back (a cloned authenticator?)")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errAssertion, err)
	}
	return cred, nil
}

// approve takes the pending proposal p once, runs its action with both
// officers, and records and audits the outcome; an operation that fails
// changed nothing and leaves the proposal pending.
func (s *Server) approve(w http.ResponseWriter, r *http.Request, sess *session, p Proposal, st step, cred *webauthn.Credential) {
	ctx := r.Context()
	var file []byte
	err := s.st.log.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if file, err = s.st.attachmentOf(ctx, tx, p); err != nil {
			return err
		}
		return s.st.claimProposal(ctx, tx, p, sess.account.Name, cred)
	})
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	p.Approver = sess.account.Name
	done, err := st.action.Do(ctx, Call{Actor: st.proposer.Actor(), Approver: sess.actor(), Digest: p.DigestHex(), Form: p.form(), Attachment: file})
	if err != nil {
		if rerr := s.st.releaseProposal(ctx, p.ID); rerr != nil {
			s.cfg.Log.Printf("console: proposal %s: %v", p.ID, rerr)
		}
		status, text := s.explain(err)
		if status == 0 || status >= 500 {
			s.stepRefused(w, r, sess, err)
			return
		}
		s.refused(r, sess.actor(), st.action.Op, text)
		jsonError(w, status, text)
		return
	}
	if err := s.st.approved(ctx, p, sess.actor().String(), done); err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"next": "/console/approvals/" + p.ID})
}

// approvalsData is what the approvals page shows: the pending proposals,
// or one proposal and what the person may do with it.
type approvalsData struct {
	Pending     []Proposal
	One         *Proposal
	State       string
	Step        string // "propose", "approve" or ""
	Why         string // why the person may not take a step, if so
	CanWithdraw bool
}

// approvalsPage lists the pending proposals.
func (s *Server) approvalsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	pending, err := s.st.pendingProposals(r.Context())
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.render(w, http.StatusOK, s.core["approvals"], s.view(sess, "Approvals", "approvals", approvalsData{Pending: pending}))
}

// proposalPage shows one proposal and offers the person's step.
func (s *Server) proposalPage(w http.ResponseWriter, r *http.Request, sess *session) {
	p, err := s.st.proposal(r.Context(), s.st.db, r.PathValue("id"))
	if errors.Is(err, errNoProposal) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.failed(w, r, err)
		return
	}
	d := approvalsData{One: &p, State: p.State(s.st.now())}
	d.CanWithdraw = p.Proposer == sess.account.Name && (d.State == StateDraft || d.State == StatePending)
	st, err := s.stepOf(r.Context(), sess, p)
	switch {
	case err == nil && st.kind == stepPropose:
		d.Step = "propose"
	case err == nil:
		d.Step = "approve"
	case approvalStatus(err) == 0:
		s.failed(w, r, err)
		return
	case d.State == StateDraft || d.State == StatePending:
		d.Why = err.Error()
	}
	s.render(w, http.StatusOK, s.core["approvals"], s.view(sess, "Proposal", "approvals", d))
}

// withdraw withdraws a proposal of the signed-in person.
func (s *Server) withdraw(w http.ResponseWriter, r *http.Request, sess *session) {
	if !s.checkForm(w, r, sess) {
		return
	}
	err := s.st.withdrawProposal(r.Context(), r.PathValue("id"), sess.account.Name, sess.actor().String())
	switch status := approvalStatus(err); {
	case err == nil:
		http.Redirect(w, r, "/console/approvals", http.StatusSeeOther)
	case status == 0:
		s.failed(w, r, err)
	default:
		if status != http.StatusNotFound {
			s.refused(r, sess.actor(), "console.withdraw "+r.PathValue("id"), err.Error())
		}
		s.message(w, r, status, "Not withdrawn", err.Error())
	}
}
