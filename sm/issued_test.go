package sm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// TestIssuedTokens: the tokens issued are listed from the audit log,
// newest first, by meter, class and time, paged, with their TID, amount,
// register and caller — and never their digits; a replayed answer is no
// new issue; the counts per period add up to the list. On SQLite and
// PostgreSQL.
func TestIssues(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		k1 := vk(123456, 1, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		k2 := vk(123456, 2, sts.DUTK, sts.BaseDate2014, dkga.DKGA04)
		f.load(k1, k2)
		m1, m2 := meterKey(t, 1, k1), meterKey(t, 2, k1)
		var digits []string
		keep := func(got sm.Issued, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			digits = append(digits, got.Tokens...)
		}
		keep(f.m.Credit(f.ctx, operator, sm.CreditRequest{ID: "c1", Meter: m1, Sub: sts.Electricity, Amount: 125}))
		keep(f.m.Credit(f.ctx, operator, sm.CreditRequest{ID: "c1", Meter: m1, Sub: sts.Electricity, Amount: 125})) // replay
		keep(f.m.Credit(f.ctx, operator, sm.CreditRequest{Meter: m2, Sub: sts.Water, Amount: 30}))
		keep(f.m.Manage(f.ctx, operator, sm.ManagementRequest{Meter: m1, Sub: sts.MaximumPowerLimit, Value: 5000}))
		keep(f.m.Test(f.ctx, operator, sm.TestRequest{Sub: sts.TestDisplay1}))
		keep(f.m.KeyChange(f.ctx, operator, sm.KeyChangeRequest{Meter: m2, To: regKey(k2), TI: 1}))

		all, total, err := f.m.Issues(f.ctx, auditor, sm.IssueFilter{}, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		if total != 5 || len(all) != 5 {
			t.Fatalf("%d of %d issues, want 5 (the replay is none): %+v", len(all), total, all)
		}
		for _, d := range digits {
			if strings.Contains(fmt.Sprintf("%+v", all), d) {
				t.Fatalf("the list shows token %s", d)
			}
		}
		kc, test, mgmt, water, credit := all[0], all[1], all[2], all[3], all[4]
		if credit.Class != sts.ClassCredit || credit.Subclass != sts.Electricity || credit.Amount != 125 || credit.PAN != m1.PAN.String() ||
			credit.Register != regKey(k1) || credit.TID == 0 || credit.Tokens != 1 || credit.RequestID != "c1" || credit.Actor != operator.String() {
			t.Errorf("credit %+v", credit)
		}
		if water.Subclass != sts.Water || water.Amount != 30 || water.PAN != m2.PAN.String() {
			t.Errorf("water %+v", water)
		}
		if mgmt.Class != sts.ClassManagement || mgmt.Subclass != sts.MaximumPowerLimit || mgmt.Value != 5000 || mgmt.TID == 0 {
			t.Errorf("management %+v", mgmt)
		}
		if test.Class != sts.ClassTest || test.PAN != "" || test.Register != (sm.RegisterKey{}) {
			t.Errorf("test %+v", test)
		}
		if kc.Class != sts.ClassManagement || kc.Subclass != sts.DecoderKey1 || kc.Register != regKey(k1) || kc.To != regKey(k2) || kc.Tokens != 4 { // a 128-bit key: 4 tokens
			t.Errorf("key change %+v", kc)
		}
		for i := 1; i < len(all); i++ {
			if all[i].Seq >= all[i-1].Seq || all[i].Time.After(all[i-1].Time) {
				t.Errorf("not newest first: %d then %d", all[i-1].Seq, all[i].Seq)
			}
		}

		check := func(name string, fl sm.IssueFilter, want ...sm.IssueRecord) {
			t.Helper()
			got, n, err := f.m.Issues(f.ctx, officer, fl, 0, 50)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if n != len(want) || len(got) != len(want) {
				t.Fatalf("%s: %d of %d, want %d", name, len(got), n, len(want))
			}
			for i := range want {
				if got[i].Seq != want[i].Seq {
					t.Errorf("%s: row %d is record %d, want %d", name, i, got[i].Seq, want[i].Seq)
				}
			}
		}
		check("meter 1", sm.IssueFilter{PAN: m1.PAN.String()}, mgmt, credit)
		check("meter 2", sm.IssueFilter{PAN: m2.PAN.String()}, kc, water)
		check("credit", sm.IssueFilter{Classes: []sts.Class{sts.ClassCredit}}, water, credit)
		check("management", sm.IssueFilter{Classes: []sts.Class{sts.ClassManagement}}, kc, mgmt)
		check("test and credit of meter 1", sm.IssueFilter{PAN: m1.PAN.String(), Classes: []sts.Class{sts.ClassTest, sts.ClassCredit}}, credit)
		check("reserved class", sm.IssueFilter{Classes: []sts.Class{sts.ClassReserved}})
		check("from", sm.IssueFilter{From: mgmt.Time}, since(all, mgmt.Time, time.Time{})...)
		check("until", sm.IssueFilter{Until: mgmt.Time}, since(all, time.Time{}, mgmt.Time)...)
		check("other meter", sm.IssueFilter{PAN: pan(t, 3).String()})

		page, n, err := f.m.Issues(f.ctx, operator, sm.IssueFilter{}, 3, 2)
		if err != nil || n != 5 || len(page) != 2 || page[0].Seq != water.Seq || page[1].Seq != credit.Seq {
			t.Errorf("page from 3 of 2: %d rows of %d, %v", len(page), n, err)
		}
		if _, _, err := f.m.Issues(f.ctx, operator, sm.IssueFilter{}, -1, 2); err == nil {
			t.Error("a negative offset is taken")
		}

		counts, err := f.m.IssueCounts(f.ctx, auditor, sm.IssueFilter{}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		per := map[sts.Class]int{}
		for i, c := range counts {
			per[c.Class] += c.Requests
			if c.Start.Truncate(time.Hour) != c.Start || c.Start.Location() != time.UTC {
				t.Errorf("period starts at %v", c.Start)
			}
			if i > 0 && !counts[i-1].Start.Before(c.Start) && counts[i-1].Class >= c.Class {
				t.Errorf("counts out of order: %+v", counts)
			}
		}
		if per[sts.ClassCredit] != 2 || per[sts.ClassManagement] != 2 || per[sts.ClassTest] != 1 {
			t.Errorf("counts %+v", counts)
		}
		if _, err := f.m.IssueCounts(f.ctx, auditor, sm.IssueFilter{}, 0); err == nil {
			t.Error("a period of 0 is taken")
		}
	})
}

// since returns the issues of all issued from (zero: any) until before
// until (zero: any).
func since(all []sm.IssueRecord, from, until time.Time) []sm.IssueRecord {
	var out []sm.IssueRecord
	for _, x := range all {
		if (from.IsZero() || !x.Time.Before(from)) && (until.IsZero() || x.Time.Before(until)) {
			out = append(out, x)
		}
	}
	return out
}
