package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
)

// user is an account as the WebAuthn library sees it.
type user struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.name }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// registration is the server's half of a registration ceremony.
type registration struct {
	Session webauthn.SessionData `json:"session"`
	Handle  []byte               `json:"handle"` // the account's user handle, new or existing
}

// userOf returns the WebAuthn user of name: the account's, or a new user
// handle for a first passkey.
func (s *Store) userOf(ctx context.Context, q querier, name string) (*user, error) {
	u := &user{name: name}
	err := q.QueryRow(ctx, `SELECT user_handle FROM console_accounts WHERE name = $1`, name).Scan(&u.handle)
	if errors.Is(err, store.ErrNotFound) {
		u.handle = randomBytes(32)
		return u, nil
	}
	if err != nil {
		return nil, err
	}
	return u, s.loadCreds(ctx, u)
}

// loadCreds reads the passkeys of u.
func (s *Store) loadCreds(ctx context.Context, u *user) error {
	var err error
	u.creds, err = store.All(ctx, s.db, `SELECT credential FROM console_credentials WHERE account = $1 ORDER BY created_ns`,
		[]any{u.name}, func(row store.Scanner) (webauthn.Credential, error) {
			var text string
			var c webauthn.Credential
			if err := row.Scan(&text); err != nil {
				return c, err
			}
			err := json.Unmarshal([]byte(text), &c)
			return c, err
		})
	return err
}

// enrolPage shows the page that registers a passkey for a valid
// enrolment code.
func (s *Server) enrolPage(w http.ResponseWriter, r *http.Request) {
	e, err := s.st.enrolmentOf(r.Context(), s.st.db, hashText(r.PathValue("code")))
	if err != nil {
		s.enrolRefused(w, r, e, err, false)
		return
	}
	s.render(w, http.StatusOK, s.core["enrol"], s.view(nil, "Register your passkey", "", map[string]any{
		"Name": e.name, "Role": e.role.String(), "Code": r.PathValue("code")}))
}

// enrolRefused answers an invalid enrolment code; a known but used or
// expired one is audited with its person's name (unknown codes are not,
// so that no stranger can grow the audit log).
func (s *Server) enrolRefused(w http.ResponseWriter, r *http.Request, e enrolment, err error, asJSON bool) {
	if !errors.Is(err, errEnrolment) {
		s.failed(w, r, err)
		return
	}
	if e.name != "" {
		s.refused(r, e.role.As(e.name), "console.enrol", "enrolment path used or expired")
	}
	if asJSON {
		jsonError(w, http.StatusNotFound, err.Error())
		return
	}
	s.message(w, r, http.StatusNotFound, "Enrolment path not valid", err.Error())
}

// enrolBegin starts the registration of a passkey for a valid code.
func (s *Server) enrolBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	e, err := s.st.enrolmentOf(ctx, s.st.db, hashText(r.PathValue("code")))
	if err != nil {
		s.enrolRefused(w, r, e, err, true)
		return
	}
	u, err := s.st.userOf(ctx, s.st.db, e.name)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, sd, err := s.wa.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.startCeremony(w, r, ceremonyRegister, e.codeHash, registration{Session: *sd, Handle: u.handle}, creation)
}

// startCeremony keeps the server's half of a ceremony, sets its cookie and
// sends the browser its options.
func (s *Server) startCeremony(w http.ResponseWriter, r *http.Request, kind string, enrolment []byte, half, options any) {
	data, err := json.Marshal(half)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	id, err := s.st.saveCeremony(r.Context(), kind, enrolment, string(data))
	if errors.Is(err, errBusy) {
		jsonError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.setCookie(w, ceremonyCookie, id, int(ceremonyLifetime.Seconds()))
	writeJSON(w, http.StatusOK, options)
}

// takeCeremony returns the ceremony of the request's cookie, once.
func (s *Server) takeCeremony(w http.ResponseWriter, r *http.Request, kind string, half any) ([]byte, bool) {
	var id string
	if c, err := r.Cookie(ceremonyCookie); err == nil {
		id = c.Value
	}
	s.setCookie(w, ceremonyCookie, "", -1)
	enrolment, data, err := s.st.takeCeremony(r.Context(), id, kind)
	if errors.Is(err, errCeremony) {
		jsonError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	if err == nil {
		err = json.Unmarshal([]byte(data), half)
	}
	if err != nil {
		s.failed(w, r, err)
		return nil, false
	}
	return enrolment, true
}

// enrolFinish checks the new passkey and, in one transaction, uses up the
// code, makes or extends the account, keeps the passkey, signs the person
// in and audits it.
func (s *Server) enrolFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var reg registration
	codeHash, ok := s.takeCeremony(w, r, ceremonyRegister, &reg)
	if !ok {
		return
	}
	if !bytes.Equal(codeHash, hashText(r.PathValue("code"))) {
		jsonError(w, http.StatusBadRequest, errCeremony.Error())
		return
	}
	e, err := s.st.enrolmentOf(ctx, s.st.db, codeHash)
	if err != nil {
		s.enrolRefused(w, r, e, err, true)
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(r.Body)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "console: the passkey's answer is malformed")
		return
	}
	u, err := s.st.userOf(ctx, s.st.db, e.name)
	if err != nil {
		s.failed(w, r, err)
		return
	}
	u.handle = reg.Handle
	cred, err := s.wa.CreateCredential(u, reg.Session, parsed)
	if err != nil {
		s.refused(r, e.role.As(e.name), "console.enrol", "passkey registration not verified")
		jsonError(w, http.StatusBadRequest, "console: the passkey could not be verified")
		return
	}
	var id string
	err = s.st.log.Tx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = s.st.addPasskey(ctx, tx, e, u.handle, cred)
		return err
	})
	switch {
	case errors.Is(err, errEnrolment):
		jsonError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.failed(w, r, err)
		return
	}
	s.setCookie(w, sessionCookie, id, 0)
	writeJSON(w, http.StatusOK, map[string]string{"next": "/console/"})
}

// addPasskey uses up the enrolment e inside tx, makes its account if new,
// keeps cred, audits it and starts a session.
func (s *Store) addPasskey(ctx context.Context, tx *store.Tx, e enrolment, handle []byte, cred *webauthn.Credential) (string, error) {
	now := s.now().UnixNano()
	res, err := tx.Exec(ctx, `UPDATE console_enrolments SET used_ns = $1
		WHERE code_hash = $2 AND used_ns = 0 AND expires_ns > $1`, now, e.codeHash)
	if err != nil {
		return "", err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return "", errEnrolment // used meanwhile by another request
	}
	a, err := accountNamed(ctx, tx, e.name)
	switch {
	case errors.Is(err, ErrNoAccount):
		if _, err := tx.Exec(ctx, `INSERT INTO console_accounts (name, role, user_handle, created_ns, created_by, revoked_ns)
			VALUES ($1, $2, $3, $4, 'enrolment', 0)`, e.name, e.role.String(), handle, now); err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	case !a.Active() || a.Role != e.role:
		return "", errEnrolment
	}
	text, err := json.Marshal(cred)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO console_credentials (id, account, credential, created_ns, used_ns)
		VALUES ($1, $2, $3, $4, $4)`, cred.ID, e.name, string(text), now); err != nil {
		return "", err
	}
	actor := e.role.As(e.name).String()
	if _, err := s.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "console.passkey", Subject: actor,
		Details: map[string]any{"passkey": shortID(cred.ID)}}); err != nil {
		return "", err
	}
	return s.newSession(ctx, tx, e.name)
}

// signInPage shows the sign-in page.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, s.core["signin"], s.view(nil, "Sign in", "", nil))
}

// signInBegin starts a sign-in with a discoverable passkey.
func (s *Server) signInBegin(w http.ResponseWriter, r *http.Request) {
	assertion, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.startCeremony(w, r, ceremonySignIn, nil, sd, assertion)
}

// signInFinish checks the passkey's assertion and signs its account in.
func (s *Server) signInFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var sd webauthn.SessionData
	if _, ok := s.takeCeremony(w, r, ceremonySignIn, &sd); !ok {
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(r.Body)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "console: the passkey's answer is malformed")
		return
	}
	var who *Account // the account the passkey names, if known
	handler := func(_, handle []byte) (webauthn.User, error) {
		a, u, err := s.st.accountByHandle(ctx, handle)
		if err != nil {
			return nil, err
		}
		who = &a
		if !a.Active() {
			return nil, errors.New("console: account revoked")
		}
		return u, nil
	}
	_, cred, err := s.wa.ValidatePasskeyLogin(handler, sd, parsed)
	if err == nil && cred.Authenticator.CloneWarning {
		err = errors.New("console: the passkey's signature counter went back (a cloned authenticator?)")
	}
	if err != nil {
		if who != nil {
			s.refused(r, who.Actor(), "console.signin", "passkey refused or account revoked")
		}
		jsonError(w, http.StatusUnauthorized, "console: sign-in refused")
		return
	}
	var id string
	err = s.st.log.Tx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = s.st.signedIn(ctx, tx, who.Actor(), cred)
		return err
	})
	if err != nil {
		s.failed(w, r, err)
		return
	}
	s.setCookie(w, sessionCookie, id, 0)
	writeJSON(w, http.StatusOK, map[string]string{"next": "/console/"})
}

// accountByHandle returns the account of a user handle with its passkeys.
func (s *Store) accountByHandle(ctx context.Context, handle []byte) (Account, *user, error) {
	var name string
	if err := s.db.QueryRow(ctx, `SELECT name FROM console_accounts WHERE user_handle = $1`, handle).Scan(&name); err != nil {
		return Account{}, nil, err
	}
	a, err := accountNamed(ctx, s.db, name)
	if err != nil {
		return a, nil, err
	}
	u := &user{handle: handle, name: name}
	return a, u, s.loadCreds(ctx, u)
}

// signedIn records a sign-in inside tx: the passkey's new state (its
// signature counter), the audit record, a new session.
func (s *Store) signedIn(ctx context.Context, tx *store.Tx, a role.Actor, cred *webauthn.Credential) (string, error) {
	text, err := json.Marshal(cred)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `UPDATE console_credentials SET credential = $1, used_ns = $2 WHERE id = $3`,
		string(text), s.now().UnixNano(), cred.ID); err != nil {
		return "", err
	}
	if _, err := s.log.Append(ctx, tx, audit.Entry{Actor: a.String(), Action: "console.signin",
		Details: map[string]any{"passkey": shortID(cred.ID)}}); err != nil {
		return "", err
	}
	return s.newSession(ctx, tx, a.Name)
}

// shortID names a passkey in the audit log: the first 8 bytes of its
// credential id, in hex (ids are public values).
func shortID(id []byte) string { return hex.EncodeToString(id[:min(len(id), 8)]) }

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// jsonError answers a ceremony's request with an error the page shows.
func jsonError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
