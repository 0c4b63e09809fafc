package sm_test

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// firstCredit loads a vending key with credit limit clm and issues, as
// operator, a credit of 10 to meter 1 under request id; it returns the
// request and its answer.
func (f *fixture) firstCredit(clm uint32, id string) (sm.CreditRequest, sm.Issued) {
	f.t.Helper()
	req := sm.CreditRequest{ID: id, Meter: meterKey(f.t, 1, f.loadLimited(clm)), Sub: sts.Electricity, Amount: 10}
	first := f.credit(req)
	return req, first
}

// TestRequestIDBelongsToCaller: another caller who gives a request id
// already used is refused (ErrRequestOwned), whether its request is the
// same or not, alone or in a batch, and never gets the stored tokens; the
// owner still gets them.
func TestRequestIDBelongsToCaller(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		req, first := f.firstCredit(100, "pos-1/7")
		mk := req.Meter
		thief := sm.Operator.As("pos-2")
		ans, err := f.m.Credit(f.ctx, thief, req)
		wantCode(t, err, sm.CodeExtended, sm.ErrRequestOwned)
		if len(ans.Tokens) != 0 {
			t.Fatalf("another caller got tokens %v", ans.Tokens)
		}
		other := req
		other.Amount = 20
		_, err = f.m.Credit(f.ctx, thief, other)
		wantCode(t, err, sm.CodeExtended, sm.ErrRequestOwned)
		_, err = f.m.Test(f.ctx, thief, sm.TestRequest{ID: req.ID, Sub: sts.TestDisplay1, Control: 1})
		wantCode(t, err, sm.CodeExtended, sm.ErrRequestOwned)
		out, errs := f.m.CreditBatch(f.ctx, thief, []sm.CreditRequest{req, {ID: "pos-2/1", Meter: mk, Sub: sts.Electricity, Amount: 1}})
		wantCode(t, errs[0], sm.CodeExtended, sm.ErrRequestOwned)
		if len(out[0].Tokens) != 0 || errs[1] != nil {
			t.Fatalf("batch of another caller: %+v, %v", out, errs)
		}
		// Two callers in one batch transaction: the second is refused.
		both := sm.CreditRequest{ID: "shared", Meter: mk, Sub: sts.Electricity, Amount: 1}
		done := make(chan error, 1)
		go func() { _, err := f.m.Credit(f.ctx, thief, both); done <- err }()
		_, err1 := f.m.Credit(f.ctx, operator, both)
		err2 := <-done
		if (err1 == nil) == (err2 == nil) {
			t.Fatalf("two callers with one id: %v, %v; want exactly one refused", err1, err2)
		}
		again, err := f.m.Credit(f.ctx, operator, req)
		if err != nil || !again.Replayed || !slices.Equal(again.Tokens, first.Tokens) {
			t.Fatalf("owner's retry: %+v, %v", again, err)
		}
	})
}

// TestReplayAudited: every replay of a stored answer is in the audit log,
// with the caller who asked again: a retry alone, in a batch, and one
// whose register's issue-until time has passed since.
func TestReplayAudited(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		req, first := f.firstCredit(100, "pos-1/8")
		f.credit(req)
		if _, errs := f.m.CreditBatch(f.ctx, operator, []sm.CreditRequest{req}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		f.clock.Add(2 * 365 * 24 * time.Hour) // past the register's IUT
		f.reopen()
		if ans, err := f.m.Credit(f.ctx, operator, req); err != nil || !ans.Replayed {
			t.Fatalf("retry after IUT: %+v, %v", ans, err)
		}
		if _, err := f.m.Credit(f.ctx, sm.Operator.As("pos-2"), req); err == nil {
			t.Fatal("another caller was answered")
		}
		log, _ := f.m.Audit(auditor)
		var replays []audit.Record
		log.Records(f.ctx, 1, func(r audit.Record) error {
			if r.Action == "token.replay" {
				replays = append(replays, r)
			}
			return nil
		})
		if len(replays) != 3 {
			t.Fatalf("%d replay records; want 3", len(replays))
		}
		for _, r := range replays {
			if r.Actor != operator.String() || r.Subject != req.Meter.PAN.String() {
				t.Errorf("replay record %+v", r)
			}
			b, _ := json.Marshal(r.Details)
			if d := string(b); !strings.Contains(d, `"request_id":"pos-1/8"`) || !strings.Contains(d, `"audit_seq":`+strconv.FormatInt(first.AuditSeq, 10)) {
				t.Errorf("replay record details %s", d)
			}
		}
	})
}
