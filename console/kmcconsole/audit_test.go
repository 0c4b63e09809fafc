package kmcconsole

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/auditconsole"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/store"
)

// TestAuditPage: on a KMC, the audit page's rule is kmc.Allow's for
// kmc.OpAuditVerify; an operator reads no record and gets no checkpoint;
// the checkpoint an auditor downloads verifies with the KMC's published
// audit key (kmc.KMC.AuditKey); a record forged behind the KMC's back
// fails verification, naming it.
func TestAuditPage(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "kmc")
	k, err := kmc.Init(ctx, dir, kmc.InitOptions{Mode: kmc.ModeTest, Actor: "officer:setup"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	p := auditPage(k)
	pos, carol := role.Operator.As("pos"), role.Auditor.As("carol")
	if p.Op != kmc.OpAuditVerify || p.Path != "audit" {
		t.Errorf("page %q op %q", p.Path, p.Op)
	}
	if _, err := p.Data(ctx, pos, console.Query{Values: url.Values{}}); !errors.Is(err, kmc.ErrRole) {
		t.Errorf("operator reads the log: %v, want kmc.ErrRole", err)
	}
	download := p.Actions[0].Download
	if _, err := download(ctx, console.Call{Actor: pos}); !errors.Is(err, kmc.ErrRole) {
		t.Errorf("operator downloads a checkpoint: %v, want kmc.ErrRole", err)
	}
	f, err := download(ctx, console.Call{Actor: carol})
	if err != nil {
		t.Fatal(err)
	}
	v, err := audit.NewVerifier(k.AuditKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.OpenCheckpoint(f.Body, v); err != nil || !strings.HasPrefix(f.Name, "audit-checkpoint-") {
		t.Errorf("checkpoint %s: %v", f.Name, err)
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, kmc.DefaultDBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET actor = 'officer:mallory' WHERE seq = 1`} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	data, err := p.Data(ctx, role.Officer.As("alice"), console.Query{Values: url.Values{"verify": {"1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := data.(*auditconsole.View).Verified; got == nil || got.OK || !strings.Contains(got.Problem, "chain broken at record 1 (edited)") {
		t.Errorf("forged log verified as %+v", got)
	}
}
