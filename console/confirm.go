package console

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/store"
)

// Passkey-confirmed steps (docs/console.md, "Passkey-confirmed steps"): a
// Confirm action is a step one person takes alone whose form may carry a
// secret (a key component). The page's script posts the form without its
// Secret fields to /console/PAGE/ACTION/begin: the console describes the
// operation and asks the person's passkey to sign a challenge derived
// from its digest and a fresh nonce. Then the script posts the whole form
// with the passkey's answer to …/finish: the console describes the form
// again, without its secrets, refuses it unless its digest is the one
// signed, and runs Do once. The secret is in no ceremony, proposal, log
// or audit record.

// Ceremony kind and challenge step of a confirmed step.
const (
	ceremonyConfirm = "confirm"
	stepConfirm     = 'c'
)

// confirmHalf is the server's half of a confirmed step's ceremony: the
// action and the digest of the operation the passkey signs.
type confirmHalf struct {
	Session webauthn.SessionData `json:"session"`
	Page    string               `json:"page"`
	Action  string               `json:"action"`
	Digest  []byte               `json:"digest"`
	Nonce   string               `json:"nonce"`
}

// confirmBody is what the page's script sends: the form, URL-encoded, and
// at finish the passkey's answer.
type confirmBody struct {
	Form       string          `json:"form"`
	Credential json.RawMessage `json:"credential,omitempty"`
}

// errFormChanged refuses a finish whose form is not the one the passkey
// signed.
var errFormChanged = errors.New("console: the form is not the one your passkey signed (start again)")

// confirmAction reads a confirmed step's request: its action, the form
// and the passkey's answer, after the CSRF header and the site's Allow;
// it answers why not if it cannot.
func (s *Server) confirmAction(w http.ResponseWriter, r *http.Request, sess *session) (*sitePage, *Action, confirmBody, url.Values, bool) {
	var body confirmBody
	if !s.checkHeader(w, r, sess) {
		return nil, nil, body, nil, false
	}
	p, a := s.action(r)
	if a == nil || !a.Confirm {
		jsonError(w, http.StatusNotFound, "console: no such step")
		return nil, nil, body, nil, false
	}
	if err := s.cfg.Site.Allow(sess.actor(), a.Op); err != nil {
		s.refused(r, sess.actor(), a.Op, err.Error())
		jsonError(w, http.StatusForbidden, "console: your role may not do this")
		return nil, nil, body, nil, false
	}
	form, err := url.Values(nil), json.NewDecoder(r.Body).Decode(&body)
	if err == nil {
		form, err = url.ParseQuery(body.Form)
	}
	if err != nil {
		jsonError(w, http.StatusBadRequest, "console: the request is not a form of this page")
		return nil, nil, body, nil, false
	}
	return p, a, body, form, true
}

// confirmDigest describes the operation of form without a's secrets and
// returns its digest.
func (s *Server) confirmDigest(r *http.Request, sess *session, p *sitePage, a *Action, form url.Values) ([]byte, error) {
	open := url.Values{}
	for k, v := range form {
		if !slices.Contains(a.Secret, k) {
			open[k] = v
		}
	}
	o, err := a.Describe(r.Context(), Call{Actor: sess.actor(), Form: open})
	if err == nil {
		err = checkOperation(o)
	}
	if err != nil {
		return nil, err
	}
	return operationDigest(s.cfg.Site.Name, Proposal{Page: p.Path, Action: a.Name, Op: a.Op, Kind: o.Kind, Params: o.Params, Words: o.Words}), nil
}

// confirmRefused answers a confirmed step's error as JSON: its words and
// status as the site explains them (a refusal is audited), or a server
// failure.
func (s *Server) confirmRefused(w http.ResponseWriter, r *http.Request, sess *session, op string, err error) {
	if status := approvalStatus(err); status != 0 {
		s.stepRefused(w, r, sess, err)
		return
	}
	status, text := s.explain(err)
	if status == 0 || status >= 500 {
		s.stepRefused(w, r, sess, err)
		return
	}
	s.refused(r, sess.actor(), op, text)
	jsonError(w, status, text)
}

// confirmBegin asks the person's passkeys to sign the digest of the
// operation the form (without its secrets) describes.
func (s *Server) confirmBegin(w http.ResponseWriter, r *http.Request, sess *session) {
	p, a, _, form, ok := s.confirmAction(w, r, sess)
	if !ok {
		return
	}
	digest, err := s.confirmDigest(r, sess, p, a, form)
	if err != nil {
		s.confirmRefused(w, r, sess, a.Op, err)
		return
	}
	u, err := s.st.userOf(r.Context(), s.st.db, sess.account.Name)
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	nonce := base64.RawURLEncoding.EncodeToString(randomBytes(16))
	assertion, sd, err := s.wa.BeginLogin(u, webauthn.WithChallenge(approvalChallenge(digest, nonce, stepConfirm)),
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	s.startCeremony(w, r, ceremonyConfirm, sess.idHash,
		confirmHalf{Session: *sd, Page: p.Path, Action: a.Name, Digest: digest, Nonce: nonce}, assertion)
}

// confirmFinish checks that the whole form describes the operation the
// passkey signed, and the signature, then runs the action once and
// audits it ("console.confirm", with the digest).
func (s *Server) confirmFinish(w http.ResponseWriter, r *http.Request, sess *session) {
	p, a, body, form, ok := s.confirmAction(w, r, sess)
	if !ok {
		return
	}
	var half confirmHalf
	bound, ok := s.takeCeremony(w, r, ceremonyConfirm, &half)
	if !ok {
		return
	}
	if !bytes.Equal(bound, sess.idHash) || half.Page != p.Path || half.Action != a.Name ||
		half.Session.Challenge != base64.RawURLEncoding.EncodeToString(approvalChallenge(half.Digest, half.Nonce, stepConfirm)) {
		s.stepRefused(w, r, sess, errWrongAnswer)
		return
	}
	digest, err := s.confirmDigest(r, sess, p, a, form)
	if err == nil && !bytes.Equal(digest, half.Digest) {
		err = errFormChanged
	}
	if err != nil {
		s.confirmRefused(w, r, sess, a.Op, err)
		return
	}
	cred, err := s.verifyAssertion(r, sess, half.Session, bytes.NewReader(body.Credential))
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	ctx := r.Context()
	err = s.st.log.Tx(ctx, func(tx *store.Tx) error {
		if err := s.st.keepCredential(ctx, tx, cred); err != nil {
			return err
		}
		_, err := s.st.log.Append(ctx, tx, audit.Entry{Actor: sess.actor().String(), Action: "console.confirm", Subject: a.Op,
			Details: map[string]any{"page": p.Path, "action": a.Name, "digest": hex.EncodeToString(digest), "passkey": shortID(cred.ID)}})
		return err
	})
	if err != nil {
		s.stepRefused(w, r, sess, err)
		return
	}
	done, err := a.Do(ctx, Call{Actor: sess.actor(), Form: form, Digest: hex.EncodeToString(digest)})
	if err != nil {
		s.confirmRefused(w, r, sess, a.Op, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"done": done})
}
