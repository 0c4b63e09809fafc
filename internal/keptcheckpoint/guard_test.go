package keptcheckpoint

import (
	"testing"

	"github.com/stskms/stskms/audit"
)

// TestAcceptance: the sentence and the audit details of an accepted
// rollback, by officers and by a test component's opener.
func TestAcceptance(t *testing.T) {
	cpe := &audit.CheckpointError{Size: 12, Kind: audit.RolledBack, Reason: "log shorter than the checkpoint"}
	said, d := Acceptance(cpe, 9, []string{"alice", "bob"}, "KMC", "kmc.rollback.accept")
	const want = "the database was rolled back: the kept checkpoint had 12 records, the log has 9 (log shorter than the checkpoint); accepted by the officers alice, bob, audited as kmc.rollback.accept"
	if said != want {
		t.Errorf("Acceptance said\n%q, want\n%q", said, want)
	}
	if d["kind"] != audit.RolledBack.String() || d["kept_size"] != int64(12) || d["log_size"] != int64(9) || d["reason"] != cpe.Reason {
		t.Errorf("details = %v", d)
	}
	if o, ok := d["officers"].([]string); !ok || len(o) != 2 || o[0] != "alice" {
		t.Errorf("details officers = %v", d["officers"])
	}
	said, _ = Acceptance(&audit.CheckpointError{Kind: audit.Forked}, 3, nil, "module", "sm.rollback.accept")
	const wantTest = "the database was forked: the kept checkpoint had 0 records, the log has 3 (); accepted by the opener (a test module: no officer credentials), audited as sm.rollback.accept"
	if said != wantTest {
		t.Errorf("Acceptance by a test opener said\n%q, want\n%q", said, wantTest)
	}
}
