package sm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// selftests are the self-tests a module runs, in order.
var selftests = []string{"DES", "DKGA02+STA", "MISTY1", "DKGA04+MISTY1", "HMAC-SHA-256", "HMAC-SHA-384",
	"AES-256-GCM", "ECDH-P384+HKDF", "identity", "audit-chain", "registers", "slots"}

// TestSelftest: every self-test runs and passes on a sound module, at Open
// and on demand, for every role.
func TestSelftest(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		f.load(vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02))
		for _, a := range []sm.Actor{officer, operator, auditor} {
			rep, err := f.m.Selftest(f.ctx, a)
			if err != nil || !rep.OK {
				t.Fatalf("%v: %v %s", a, err, rep.Failure())
			}
			if len(rep.Results) != len(selftests) {
				t.Fatalf("%d results", len(rep.Results))
			}
			for i, r := range rep.Results {
				if r.Name != selftests[i] || !r.OK {
					t.Errorf("result %d: %+v", i, r)
				}
			}
		}
	})
}

// TestSelftestFailure: a failing known-answer test at start puts the
// module in its error state: it refuses every service with ErrSelfTest
// saying which test failed, still identifies itself, and logs the failure.
func TestSelftestFailure(t *testing.T) {
	for _, name := range selftests[:8] {
		t.Run(name, func(t *testing.T) {
			db := reopenFresh(t, nil)
			f := newFixture(t, db, sm.Vending)
			k := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02)
			f.load(k)
			f.m.Close()
			restore := sm.SetFailTests(name)
			m, err := sm.Open(f.ctx, f.dir, f.opts)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			fault := m.Fault()
			if fault == nil || !errors.Is(fault, sm.ErrSelfTest) {
				t.Fatalf("fault %v", fault)
			}
			wantRefused(t, m, name)
			if m.Identify().SMID.String() == "" || m.LastSelftest().OK {
				t.Error("identity or report missing in the error state")
			}
			// A later passing self-test does not clear the error state.
			if rep, err := m.Selftest(f.ctx, auditor); err != nil || !rep.OK {
				t.Fatalf("self-test: %v", err)
			}
			wantRefused(t, m, name)
			log, _ := m.Audit(auditor)
			var start, last audit.Record
			log.Records(f.ctx, 1, func(r audit.Record) error {
				if r.Action == "sm.start" {
					start = r
				}
				last = r
				return nil
			})
			if !containsJSON(start.Details, name) || last.Action != "sm.selftest" {
				t.Errorf("audit: last start %s, last record %s", start.Details, last.Action)
			}
		})
	}
}

// containsJSON reports whether a record's details hold s.
func containsJSON(details any, s string) bool {
	b, _ := details.(json.RawMessage)
	return strings.Contains(string(b), s)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// wantRefused checks that m refuses service, naming the failed test.
func wantRefused(t *testing.T, m *sm.Module, name string) {
	t.Helper()
	ctx := context.Background()
	mk := sm.MeterKey{PAN: pan(t, 1), TI: 1, RegisterKey: sm.RegisterKey{SGC: 123456, KRN: 1, KT: sts.DUTK}}
	errs := map[string]error{}
	_, errs["credit"] = m.Credit(ctx, operator, sm.CreditRequest{Meter: mk, Sub: sts.Electricity, Amount: 1})
	_, errs["manage"] = m.Manage(ctx, operator, sm.ManagementRequest{Meter: mk, Sub: sts.TariffRate})
	_, errs["test"] = m.Test(ctx, operator, sm.TestRequest{Sub: sts.TestDisplay1})
	_, errs["keychange"] = m.KeyChange(ctx, operator, sm.KeyChangeRequest{Meter: mk, To: mk.RegisterKey})
	_, errs["verify"] = m.Verify(ctx, operator, sm.VerifyRequest{Meter: mk, Token: "00000000000000000000"})
	_, errs["registers"] = m.Registers(ctx, operator)
	_, errs["slots"] = m.Slots(ctx, officer)
	_, errs["install"] = m.InstallSlot(ctx, officer, sm.InstallRequest{})
	_, errs["request"] = m.Request(ctx, officer, 1)
	_, errs["load"] = m.LoadKLF(ctx, officer, 1, nil)
	errs["delete"] = m.DeleteSlot(ctx, officer, 1)
	for op, err := range errs {
		if !errors.Is(err, sm.ErrSelfTest) || sm.CodeOf(err) != sm.CodeExtended || !contains(err.Error(), name) {
			t.Errorf("%s in the error state: %v", op, err)
		}
	}
}

// TestIntegrityCheck: stored state changed behind the module's back fails
// the integrity self-test at the next start: a register attribute edited
// (its sealed key no longer opens), the audit chain edited (with its
// append-only trigger dropped first), the variant column is covered by
// TestVariantFixed.
func TestIntegrityCheck(t *testing.T) {
	tamper := map[string]func(ctx context.Context, db *store.DB) error{
		"registers": func(ctx context.Context, db *store.DB) error {
			_, err := db.Exec(ctx, `UPDATE sm_register SET ken = 254`)
			return err
		},
		// The self-test checks the log's head and tree against the
		// latest checkpoint, in logarithmic time (audit.Log.Check): it
		// sees the last record edited; a record further back is audit
		// verify's (audit.TestCheckAtOpen, TestAuditTransparency).
		"audit-chain": func(ctx context.Context, db *store.DB) error {
			drop := `DROP TRIGGER audit_log_no_update`
			if db.Dialect() == store.PostgreSQL {
				drop = `ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change`
			}
			if _, err := db.Exec(ctx, drop); err != nil {
				return err
			}
			_, err := db.Exec(ctx, `UPDATE audit_log SET subject = 'edited' WHERE seq = (SELECT MAX(seq) FROM audit_log)`)
			return err
		},
		"slots": func(ctx context.Context, db *store.DB) error {
			_, err := db.Exec(ctx, `UPDATE sm_slot SET fingerprint = '0000000000000000'`)
			return err
		},
	}
	for name, fn := range tamper {
		t.Run(name, func(t *testing.T) {
			eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
				f.load(vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA02))
				f.m.Close()
				if err := fn(f.ctx, f.db); err != nil {
					t.Fatal(err)
				}
				m, err := sm.Open(f.ctx, f.dir, f.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if !errors.Is(m.Fault(), sm.ErrSelfTest) || !contains(m.Fault().Error(), name) {
					t.Fatalf("fault after tampering with %s: %v", name, m.Fault())
				}
				wantRefused(t, m, name)
			})
		})
	}
}
