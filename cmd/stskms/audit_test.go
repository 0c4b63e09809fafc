package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/store"
)

// TestAuditVerifyDetectsTampering: stskms audit verify reads a KMC's log
// without unlocking it, and a record edited behind the log's back (its
// append-only trigger dropped first, as an intruder with the database
// would) fails the check with exit status 1.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	dir := initTestKMC(t)
	sh := func(want int, args ...string) string {
		t.Helper()
		out, errOut := mustRunCLI(t, want, args...)
		return out + errOut
	}
	sh(0, "kmc", "sgc", "add", "--dir", dir, "--sgc", "600123")
	if out := sh(0, "audit", "verify", "--dir", dir); !strings.HasPrefix(out, "audit log verified: ") {
		t.Fatalf("verify: %s", out)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "kmc.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET actor = 'officer:mallory' WHERE seq = 2"} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if out := sh(1, "audit", "verify", "--dir", dir); !strings.Contains(out, "NOT verified") {
		t.Errorf("tampered log: %s", out)
	}
	sh(2, "audit", "verify")
}
