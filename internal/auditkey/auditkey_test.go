package auditkey_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/auditkey"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/keystore/custodytest"
	"github.com/stskms/stskms/store/storetest"
)

// custody returns a new sealed test custody, locked at cleanup.
func custody(t *testing.T) keystore.Custody {
	t.Helper()
	return custodytest.Sealed(t, filepath.Join(t.TempDir(), "ks"))
}

// TestAuditKey: the key is made once, recorded in the log, and signs
// checkpoints that verify with the verifier key; another custody cannot
// unseal it.
func TestAuditKey(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, "sqlite:"+filepath.Join(t.TempDir(), "a.db"))
	l, err := audit.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	c := custody(t)
	vkey, err := auditkey.Ensure(ctx, l, c)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := auditkey.Ensure(ctx, l, c); err != nil || again != vkey {
		t.Fatalf("second Ensure: %q, %v; want the same key", again, err)
	}
	if !strings.HasPrefix(vkey, l.Origin()+"+") {
		t.Errorf("verifier key %q is not named after the log", vkey)
	}
	var created int
	if err := l.Records(ctx, 1, func(r audit.Record) error {
		if r.Action == "audit.key.create" {
			created++
		}
		return nil
	}); err != nil || created != 1 {
		t.Fatalf("%d audit.key.create records, %v; want 1", created, err)
	}
	s, err := auditkey.Signer(ctx, l, c)
	if err != nil {
		t.Fatal(err)
	}
	signed, _, err := l.Checkpoint(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenCheckpoint(signed, v); err != nil {
		t.Fatalf("the checkpoint does not verify: %v", err)
	}
	if _, err := auditkey.Signer(ctx, l, custody(t)); err == nil {
		t.Error("another custody unsealed the audit key")
	}
}
