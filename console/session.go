package console

import (
	"context"
	"errors"
	"time"

	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
)

// Default session timeouts (Config.IdleTimeout, Config.MaxSession).
const (
	// DefaultIdleTimeout ends a session nobody used for this long.
	DefaultIdleTimeout = 15 * time.Minute
	// DefaultMaxSession ends every session this long after sign-in.
	DefaultMaxSession = 8 * time.Hour
	// ceremonyLifetime is how long a passkey ceremony may take.
	ceremonyLifetime = 5 * time.Minute
)

// errNoSession is a missing, unknown or expired session.
var errNoSession = errors.New("console: not signed in")

// session is a signed-in person's session.
type session struct {
	idHash  []byte
	account Account
	csrf    string
}

// actor is the person of the session, as the audit log names them.
func (s session) actor() role.Actor { return s.account.Actor() }

// newSession starts a session for name inside tx and returns its id (the
// cookie's value), of which the store keeps only the hash.
func (s *Store) newSession(ctx context.Context, tx *store.Tx, name string) (string, error) {
	id := randomText()
	now := s.now().UnixNano()
	_, err := tx.Exec(ctx, `INSERT INTO console_sessions (id_hash, account, csrf, created_ns, seen_ns)
		VALUES ($1, $2, $3, $4, $4)`, hashText(id), name, randomText(), now)
	return id, err
}

// session returns the live session of id and marks it used now. A session
// idle for longer than idle, older than max, or of a revoked account is
// ended and refused with errNoSession.
func (s *Store) session(ctx context.Context, id string, idle, max time.Duration) (session, error) {
	if id == "" {
		return session{}, errNoSession
	}
	sess := session{idHash: hashText(id)}
	now := s.now()
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var name string
		var created, seen int64
		err := tx.QueryRow(ctx, `SELECT account, csrf, created_ns, seen_ns FROM console_sessions WHERE id_hash = $1`, sess.idHash).
			Scan(&name, &sess.csrf, &created, &seen)
		if errors.Is(err, store.ErrNotFound) {
			return errNoSession
		}
		if err != nil {
			return err
		}
		if sess.account, err = accountNamed(ctx, tx, name); err != nil {
			return err
		}
		if now.Sub(time.Unix(0, seen)) > idle || now.Sub(time.Unix(0, created)) > max || !sess.account.Active() {
			if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, sess.idHash); err != nil {
				return err
			}
			return errNoSession
		}
		_, err = tx.Exec(ctx, `UPDATE console_sessions SET seen_ns = $1 WHERE id_hash = $2`, now.UnixNano(), sess.idHash)
		return err
	})
	return sess, err
}

// endSession ends the session inside tx.
func endSession(ctx context.Context, tx *store.Tx, idHash []byte) error {
	_, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE id_hash = $1`, idHash)
	return err
}

// Ceremony kinds.
const (
	ceremonyRegister = "register"
	ceremonySignIn   = "signin"
)

// saveCeremony keeps the server's half of a passkey ceremony (the
// library's session data, JSON) and returns its id for the ceremony
// cookie. enrolment is the code hash of a registration, nil for sign-in.
// Expired ceremonies are dropped on the way; over maxCeremonies live ones,
// errBusy.
func (s *Store) saveCeremony(ctx context.Context, kind string, enrolment []byte, data string) (string, error) {
	id := randomText()
	now := s.now()
	if enrolment == nil {
		enrolment = []byte{}
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM console_ceremonies WHERE expires_ns < $1`, now.UnixNano()); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM console_ceremonies`).Scan(&n); err != nil {
			return err
		}
		if n >= maxCeremonies {
			return errBusy
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_ceremonies (id_hash, kind, enrolment, data, expires_ns)
			VALUES ($1, $2, $3, $4, $5)`, hashText(id), kind, enrolment, data, now.Add(ceremonyLifetime).UnixNano())
		return err
	})
	return id, err
}

// maxCeremonies bounds the ceremonies begun and not yet finished or
// expired, so that anonymous requests cannot grow the table without end.
var maxCeremonies = 1000

// errBusy refuses a ceremony over maxCeremonies.
var errBusy = errors.New("console: too many passkey ceremonies in progress; try again in a few minutes")

// errCeremony is a ceremony that is unknown, of another kind, used or
// expired.
var errCeremony = errors.New("console: no such passkey ceremony (start again)")

// takeCeremony returns the ceremony of id and kind and removes it: each
// is used once.
func (s *Store) takeCeremony(ctx context.Context, id, kind string) (enrolment []byte, data string, err error) {
	if id == "" {
		return nil, "", errCeremony
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		var k string
		var expires int64
		err := tx.QueryRow(ctx, `SELECT kind, enrolment, data, expires_ns FROM console_ceremonies WHERE id_hash = $1`, hashText(id)).
			Scan(&k, &enrolment, &data, &expires)
		if errors.Is(err, store.ErrNotFound) {
			return errCeremony
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM console_ceremonies WHERE id_hash = $1`, hashText(id)); err != nil {
			return err
		}
		if k != kind || s.now().UnixNano() > expires {
			return errCeremony
		}
		return nil
	})
	return enrolment, data, err
}

// enrolment is a valid one-time enrolment.
type enrolment struct {
	codeHash []byte
	name     string
	role     role.Role
}

// errEnrolment is an enrolment code that is unknown, used or expired; the
// page does not say which.
var errEnrolment = errors.New("console: this enrolment path is not valid (unknown, used or expired); ask for a new one")

// enrolmentOf reads the enrolment of codeHash, if still valid. A known
// code that is used or expired is refused with its person in e.
func (s *Store) enrolmentOf(ctx context.Context, q querier, codeHash []byte) (enrolment, error) {
	e := enrolment{codeHash: codeHash}
	var rs string
	var expires, used int64
	err := q.QueryRow(ctx, `SELECT name, role, expires_ns, used_ns FROM console_enrolments WHERE code_hash = $1`, codeHash).
		Scan(&e.name, &rs, &expires, &used)
	if errors.Is(err, store.ErrNotFound) {
		return e, errEnrolment
	}
	if err != nil {
		return e, err
	}
	e.role, _ = role.Parse(rs)
	if used != 0 || s.now().UnixNano() >= expires {
		return e, errEnrolment // e names the person, for the audit record
	}
	return e, nil
}
