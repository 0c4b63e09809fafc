package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stskms/stskms/store"
)

// TestSplitPassword: the password leaves the DSN, from the user
// information or the password parameter, and WithPassword puts it back;
// DSNs without one are untouched.
func TestSplitPassword(t *testing.T) {
	for _, tc := range []struct{ dsn, bare, pw string }{
		{"postgres://kmc:s3cr%2Ft@db.example:5432/kmc?sslmode=verify-full", "postgres://kmc@db.example:5432/kmc?sslmode=verify-full", "s3cr/t"},
		{"postgresql://kmc@db/kmc?password=pw&sslmode=require", "postgresql://kmc@db/kmc?sslmode=require", "pw"},
		{"postgres://kmc@/kmc?host=/run/postgresql", "postgres://kmc@/kmc?host=/run/postgresql", ""},
		{"sqlite:kmc.db", "sqlite:kmc.db", ""},
		{"/var/lib/x.db", "/var/lib/x.db", ""},
	} {
		bare, pw, err := store.SplitPassword(tc.dsn)
		if err != nil || bare != tc.bare || pw != tc.pw {
			t.Errorf("SplitPassword(%q) = %q, %q, %v; want %q, %q", tc.dsn, bare, pw, err, tc.bare, tc.pw)
			continue
		}
		if store.HasPassword(bare) {
			t.Errorf("%q still has a password", bare)
		}
		back := store.WithPassword(bare, pw)
		if _, got, _ := store.SplitPassword(back); got != tc.pw {
			t.Errorf("WithPassword(%q) = %q: password %q, want %q", bare, back, got, tc.pw)
		}
	}
	if _, _, err := store.SplitPassword("postgres://u:p@[::1"); !errors.Is(err, store.ErrBadDSN) || strings.Contains(err.Error(), "p@") {
		t.Errorf("unparsable URL: %v", err)
	}
}

// TestRedact: a password anywhere in a DSN is shown as ****, never itself.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://kmc:hunter2@db/kmc", "postgres://kmc:****@db/kmc"},
		{"postgres://kmc@db/kmc?password=hunter2", "postgres://kmc@db/kmc?password=****"},
		{"postgres://kmc@db/kmc", "postgres://kmc@db/kmc"},
		{"sqlite:gateway.db", "sqlite:gateway.db"},
		{"postgres://u:hunter2@[::1", "****"},
	} {
		got := store.Redact(tc.dsn)
		if got != tc.want || strings.Contains(got, "hunter2") {
			t.Errorf("Redact(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}
