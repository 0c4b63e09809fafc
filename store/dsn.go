package store

import (
	"net/url"
	"strings"
)

// Mask is what Redact puts in place of a password.
const Mask = "****"

// isPostgres reports a PostgreSQL URL, the only DSN that can carry a
// password.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// SplitPassword returns dsn without its password (the user information's
// and the password parameter's) and the password, so that the DSN can be
// recorded and shown while the password is kept elsewhere. A DSN without
// a password comes back as it is, with "". An unparsable PostgreSQL URL
// is ErrBadDSN, saying nothing of its text.
func SplitPassword(dsn string) (string, string, error) {
	if !HasPassword(dsn) {
		return dsn, "", nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", "", ErrBadDSN
	}
	pw, _ := u.User.Password()
	q := u.Query()
	if p := q.Get("password"); p != "" && pw == "" {
		pw = p
	}
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String(), pw, nil
}

// WithPassword returns the PostgreSQL URL dsn with password in its user
// information (as pgx reads it), or dsn itself if password is "" or dsn is
// no PostgreSQL URL or has a password already.
func WithPassword(dsn, password string) string {
	if password == "" || !isPostgres(dsn) || HasPassword(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // Open reports it
	}
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// Redact returns dsn with its password, if any, shown as Mask: for
// messages and "config show". An unparsable PostgreSQL URL that may hold
// one is shown as Mask whole.
func Redact(dsn string) string {
	if !HasPassword(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return Mask
	}
	if _, set := u.User.Password(); set {
		u.User = url.UserPassword(u.User.Username(), "MASKED")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "MASKED")
		u.RawQuery = q.Encode()
	}
	return strings.ReplaceAll(u.String(), "MASKED", Mask)
}
