package api_test

import (
	"testing"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestAuditVerifyChecksTree: the auditor route checks the tree and the
// latest checkpoint kept in the database, not only the chain: a forged
// checkpoint slipped into the database is reported, not "ok".
func TestAuditVerifyChecksTree(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		if _, err := e.k.AuditCheckpoint(e.ctx); err != nil {
			t.Fatal(err)
		}
		var rep api.AuditAnswer
		e.do("auditor", "POST", "/v1/audit/verify", nil, &rep)
		if !rep.OK {
			t.Fatalf("audit verify of a good log = %+v", rep)
		}
		forged := e.k.AuditLog().Origin() + "\n1000000\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— " + e.k.AuditLog().Origin() + " AAAAAAAA\n"
		if _, err := db.Exec(e.ctx, `INSERT INTO audit_checkpoint (size, note) VALUES ($1, $2)`, 1000000, forged); err != nil {
			t.Fatal(err)
		}
		e.do("auditor", "POST", "/v1/audit/verify", nil, &rep)
		if rep.OK || rep.Kind != "bad checkpoint" || rep.Reason == "" {
			t.Fatalf("audit verify with a forged checkpoint = %+v", rep)
		}
	})
}
