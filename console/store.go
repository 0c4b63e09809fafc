package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
)

// component is the console's name in store's migrations.
const component = "console"

// migrations is the console's schema. Released steps never change. Times
// are Unix nanoseconds, 0 for "not yet"; secrets (enrolment codes,
// session ids) are kept only as their SHA-256.
var migrations = []store.Migration{{
	Version: 1,
	Name:    "accounts, passkeys, enrolment codes, sessions, ceremonies",
	SQL: `CREATE TABLE console_accounts (
		name        TEXT PRIMARY KEY,
		role        TEXT NOT NULL,
		user_handle {{blob}} NOT NULL UNIQUE,
		created_ns  BIGINT NOT NULL,
		created_by  TEXT NOT NULL,
		revoked_ns  BIGINT NOT NULL
	);
	CREATE TABLE console_credentials (
		id         {{blob}} PRIMARY KEY,
		account    TEXT NOT NULL REFERENCES console_accounts (name),
		credential TEXT NOT NULL,
		created_ns BIGINT NOT NULL,
		used_ns    BIGINT NOT NULL
	);
	CREATE TABLE console_enrolments (
		code_hash  {{blob}} PRIMARY KEY,
		name       TEXT NOT NULL,
		role       TEXT NOT NULL,
		created_ns BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		expires_ns BIGINT NOT NULL,
		used_ns    BIGINT NOT NULL
	);
	CREATE TABLE console_sessions (
		id_hash    {{blob}} PRIMARY KEY,
		account    TEXT NOT NULL REFERENCES console_accounts (name),
		csrf       TEXT NOT NULL,
		created_ns BIGINT NOT NULL,
		seen_ns    BIGINT NOT NULL
	);
	CREATE TABLE console_ceremonies (
		id_hash    {{blob}} PRIMARY KEY,
		kind       TEXT NOT NULL,
		enrolment  {{blob}} NOT NULL,
		data       TEXT NOT NULL,
		expires_ns BIGINT NOT NULL
	)`,
}, {
	Version: 2,
	Name:    "two-person approvals: proposals",
	SQL:     proposalsTable,
}, {
	Version: 3,
	Name:    "two-person approvals: a proposal's attachment",
	SQL:     attachmentColumn,
}}

// EnrolmentLifetime is how long a one-time enrolment path stays valid.
const EnrolmentLifetime = 15 * time.Minute

// Errors of the Store, matched with errors.Is.
var (
	// ErrInvalid refuses a malformed name or role.
	ErrInvalid = errors.New("console: invalid")
	// ErrAccount refuses an enrolment that would change an existing
	// account: a revoked name, or one enrolled with another role.
	ErrAccount = errors.New("console: account conflict")
	// ErrNoAccount is returned for a name with no active account.
	ErrNoAccount = errors.New("console: no such active account")
)

// Store holds the console's accounts, passkeys, enrolment codes and
// sessions in a component's database, and appends the console's audit
// records to that database's audit log.
type Store struct {
	db  *store.DB
	log *audit.Log
	now func() time.Time
}

// OpenStore migrates the console's tables in db (component "console") and
// opens db's audit log. now is the clock (time.Now if nil).
func OpenStore(ctx context.Context, db *store.DB, now func() time.Time) (*Store, error) {
	if err := db.Migrate(ctx, component, migrations); err != nil {
		return nil, fmt.Errorf("console: failed to migrate: %w", err)
	}
	l, err := audit.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, log: l, now: now}, nil
}

// Audit returns the audit log the console writes to.
func (s *Store) Audit() *audit.Log { return s.log }

// Account is a person who may sign in to the console.
type Account struct {
	Name     string
	Role     role.Role
	Created  time.Time
	Revoked  time.Time // zero while active
	Passkeys int
	LastUsed time.Time // the last sign-in, zero if none
}

// Actor returns the account as the audit log's actor.
func (a Account) Actor() role.Actor { return a.Role.As(a.Name) }

// Active reports whether the account may sign in.
func (a Account) Active() bool { return a.Revoked.IsZero() }

// checkName accepts 1 to 64 letters, digits, '.', '_' and '-'.
func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: name: 1 to 64 characters", ErrInvalid)
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: name: only letters, digits, '.', '_' and '-'", ErrInvalid)
		}
	}
	return nil
}

// Enrol makes a one-time enrolment code for name in role, valid for
// EnrolmentLifetime: the person opens EnrolPath(code) and registers a
// passkey. An active account of that name and role gets another passkey;
// a revoked name, or one enrolled with another role, is refused
// (ErrAccount). by is who asked, for the audit log.
func (s *Store) Enrol(ctx context.Context, by, name string, r role.Role) (code string, expires time.Time, err error) {
	if err := checkName(name); err != nil {
		return "", time.Time{}, err
	}
	if _, ok := role.Parse(r.String()); !ok {
		return "", time.Time{}, fmt.Errorf("%w: role (officer, operator or auditor)", ErrInvalid)
	}
	code = randomText()
	now := s.now()
	expires = now.Add(EnrolmentLifetime)
	err = s.log.Tx(ctx, func(tx *store.Tx) error {
		if a, err := accountNamed(ctx, tx, name); err == nil {
			if !a.Active() {
				return fmt.Errorf("%w: %s was revoked; enrol the person under another name", ErrAccount, name)
			}
			if a.Role != r {
				return fmt.Errorf("%w: %s is enrolled as %s", ErrAccount, name, a.Role)
			}
		} else if !errors.Is(err, ErrNoAccount) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO console_enrolments (code_hash, name, role, created_ns, created_by, expires_ns, used_ns)
			VALUES ($1, $2, $3, $4, $5, $6, 0)`, hashText(code), name, r.String(), now.UnixNano(), by, expires.UnixNano()); err != nil {
			return err
		}
		_, err := s.log.Append(ctx, tx, audit.Entry{Actor: by, Action: "console.enrol", Subject: r.As(name).String(),
			Details: map[string]any{"expires": expires.UTC().Format(time.RFC3339)}})
		return err
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return code, expires, nil
}

// EnrolPath is the path, under /console/, that a code from Enrol opens.
func EnrolPath(code string) string { return "/console/enrol/" + code }

// Accounts lists every account, active and revoked, by name.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	return store.All(ctx, s.db, `SELECT a.name, a.role, a.created_ns, a.revoked_ns,
		(SELECT COUNT(*) FROM console_credentials c WHERE c.account = a.name),
		(SELECT COALESCE(MAX(c.used_ns), 0) FROM console_credentials c WHERE c.account = a.name)
		FROM console_accounts a ORDER BY a.name`, nil, func(row store.Scanner) (Account, error) {
		var a Account
		var rs string
		var created, revoked, used int64
		if err := row.Scan(&a.Name, &rs, &created, &revoked, &a.Passkeys, &used); err != nil {
			return a, err
		}
		a.Role, _ = role.Parse(rs)
		a.Created, a.Revoked, a.LastUsed = fromNanos(created), fromNanos(revoked), fromNanos(used)
		return a, nil
	})
}

// Revoke revokes the account of name for good: its sessions end at once,
// its passkeys no longer sign in, and its enrolment paths not yet used no
// longer work (a name with only such paths has them cancelled). by is who
// did it, for the audit log. ErrNoAccount if there is nothing to revoke.
func (s *Store) Revoke(ctx context.Context, by, name string) error {
	return s.log.Tx(ctx, func(tx *store.Tx) error { return s.revoke(ctx, tx, by, name) })
}

func (s *Store) revoke(ctx context.Context, tx *store.Tx, by, name string) error {
	now := s.now().UnixNano()
	// Enrolment paths not yet used die with the account.
	res, err := tx.Exec(ctx, `UPDATE console_enrolments SET used_ns = $1 WHERE name = $2 AND used_ns = 0 AND expires_ns > $1`, now, name)
	if err != nil {
		return err
	}
	pending, err := res.RowsAffected()
	if err != nil {
		return err
	}
	a, err := accountNamed(ctx, tx, name)
	switch {
	case errors.Is(err, ErrNoAccount) && pending > 0:
		_, err = s.log.Append(ctx, tx, audit.Entry{Actor: by, Action: "console.revoke", Subject: name,
			Details: map[string]any{"enrolments": pending}})
		return err
	case err != nil:
		return err
	case !a.Active():
		return fmt.Errorf("%w: %s is already revoked", ErrNoAccount, name)
	}
	if _, err := tx.Exec(ctx, `UPDATE console_accounts SET revoked_ns = $1 WHERE name = $2`, now, name); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE account = $1`, name); err != nil {
		return err
	}
	_, err = s.log.Append(ctx, tx, audit.Entry{Actor: by, Action: "console.revoke", Subject: a.Actor().String(),
		Details: map[string]any{"enrolments": pending}})
	return err
}

// querier is what reads run on: a DB or a Tx.
type querier interface {
	QueryRow(ctx context.Context, query string, args ...any) *store.Row
}

// accountNamed reads the account of name (ErrNoAccount if none).
func accountNamed(ctx context.Context, q querier, name string) (Account, error) {
	var a Account
	var rs string
	var created, revoked int64
	err := q.QueryRow(ctx, `SELECT name, role, created_ns, revoked_ns FROM console_accounts WHERE name = $1`, name).
		Scan(&a.Name, &rs, &created, &revoked)
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("%w: %s", ErrNoAccount, name)
	}
	if err != nil {
		return a, err
	}
	a.Role, _ = role.Parse(rs)
	a.Created, a.Revoked = fromNanos(created), fromNanos(revoked)
	return a, nil
}

// randomText returns 32 random bytes in unpadded base64url: an enrolment
// code, a session id, a CSRF token.
func randomText() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// hashText is what the store keeps of a secret text.
func hashText(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
