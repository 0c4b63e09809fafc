package smconsole

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
)

var (
	officer  = sm.Officer.As("alice")
	operator = sm.Operator.As("pos")
	auditor  = sm.Auditor.As("carol")
	nobody   = sm.Role(0).As("mallory")
)

// loaded is a test module with apitest's register loaded.
func loaded(t *testing.T) *sm.Module {
	m, _ := loadedIn(t)
	return m
}

// loadedIn is loaded, and the module's directory.
func loadedIn(t *testing.T) (*sm.Module, string) {
	t.Helper()
	return consoletest.ModuleBy(t, apitest.Setup)
}

// moduleDB opens the database of the module in dir, behind the module's
// back, until the test ends.
func moduleDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	info, err := sm.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.InDir(dir, info.Database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// query makes a page's query of "k=v" pairs.
func query(t *testing.T, pairs string) console.Query {
	t.Helper()
	v, err := url.ParseQuery(pairs)
	if err != nil {
		t.Fatal(err)
	}
	return console.Query{Values: v}
}

// wantBad fails unless err is a console input error naming field.
func wantBad(t *testing.T, err error, field string) {
	t.Helper()
	var ie *console.InputError
	if !errors.As(err, &ie) || ie.Field != field {
		t.Errorf("error %v, want an input error of %q", err, field)
	}
}

// TestRegistersPage: the registers page lists every register to each
// role that may list them, filtered by SGC, with the credit limit used and
// left; a bad SGC is an input error naming the field; a role the module
// refuses is refused.
func TestRegistersPage(t *testing.T) {
	ctx := context.Background()
	m := loaded(t)
	if _, err := m.Credit(ctx, operator, sm.CreditRequest{Meter: apitest.Meter(1), Sub: sts.Electricity, Amount: 125}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, a := range []sm.Actor{officer, operator, auditor} {
		got, err := registersOf(ctx, m, a, query(t, ""), now)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if len(got.Rows) != 1 || got.Window.Total != 1 || got.Rows[0].RegisterKey != apitest.Register {
			t.Fatalf("%s: %+v", a, got)
		}
		r := got.Rows[0]
		if r.State != "active" || r.Bad || r.Used != "125" || r.Left != grouped(0xFFFFFFFF-125) || r.KCV == "" {
			t.Errorf("%s: row %+v", a, r)
		}
	}
	for sgc, want := range map[string]int{"123456": 1, "1": 0, "000001": 0} {
		got, err := registersOf(ctx, m, auditor, query(t, "sgc="+sgc), now)
		if err != nil || len(got.Rows) != want {
			t.Errorf("sgc %s: %v, %v", sgc, got, err)
		}
	}
	for _, bad := range []string{"sgc=12a", "sgc=1234567", "sgc=-1", "sgc=1&sgc=2"} {
		_, err := registersOf(ctx, m, auditor, query(t, bad), now)
		wantBad(t, err, "sgc")
	}
	if _, err := registersOf(ctx, m, nobody, query(t, ""), now); !errors.Is(err, sm.ErrRole) {
		t.Errorf("no role: %v", err)
	}
}

// TestRegisterState: a register is active between ACT and IUT while it has
// credit left, and says why not otherwise.
func TestRegisterState(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	r := sm.Register{ACT: now.AddDate(-1, 0, 0), IUT: now.AddDate(1, 0, 0), CLM: 250, CLMLoaded: 1000}
	for _, tc := range []struct {
		at    time.Time
		clm   uint32
		state string
	}{
		{now, 250, "active"},
		{now.AddDate(-2, 0, 0), 250, "not yet active"},
		{now.AddDate(2, 0, 0), 250, "expired"},
		{now, 0, "credit limit used up"},
	} {
		r.CLM = tc.clm
		row := registerRow(r, tc.at)
		if row.State != tc.state || row.Bad != (tc.state != "active") {
			t.Errorf("at %v with %d left: %q", tc.at, tc.clm, row.State)
		}
	}
	if row := registerRow(r, now); row.Used != "1 000" || row.Left != "0" || row.UsedPercent != "100.0 %" {
		t.Errorf("used %q left %q (%s)", row.Used, row.Left, row.UsedPercent)
	}
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1 000", 4294967295: "4 294 967 295"} {
		if got := grouped(n); got != want {
			t.Errorf("grouped(%d) = %q", n, got)
		}
	}
}

// TestTokensPage: the tokens page lists what the module issued, newest
// first, filtered by meter (DRN or PAN), class and days, paged on the
// server, with amounts in their units — and never a token's digits. Bad
// filters are input errors naming their field; a role the module refuses
// is refused.
func TestTokensPage(t *testing.T) {
	ctx := context.Background()
	m := loaded(t)
	var digits []string
	issue := func(got sm.Issued, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		digits = append(digits, got.Tokens...)
	}
	for range console.PageSize {
		issue(m.Credit(ctx, operator, sm.CreditRequest{Meter: apitest.Meter(1), Sub: sts.Electricity, Amount: 125}))
	}
	issue(m.Credit(ctx, operator, sm.CreditRequest{Meter: apitest.Meter(2), Sub: sts.ElectricityCurrency, Currency: big.NewInt(1234500)}))
	issue(m.Manage(ctx, operator, sm.ManagementRequest{Meter: apitest.Meter(2), Sub: sts.MaximumPowerLimit, Value: 5000}))
	issue(m.Test(ctx, operator, sm.TestRequest{Sub: sts.TestDisplay1}))

	all, err := tokensOf(ctx, m, auditor, query(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if all.Window.Total != console.PageSize+3 || len(all.Rows) != console.PageSize || all.Window.Next() == "" {
		t.Fatalf("%d rows of %d", len(all.Rows), all.Window.Total)
	}
	test, mgmt, currency, credit := all.Rows[0], all.Rows[1], all.Rows[2], all.Rows[3]
	if test.What != "initiate meter test/display 1" || test.Meter != "" || test.Amount != "—" {
		t.Errorf("test token %+v", test)
	}
	if mgmt.What != "set maximum power limit" || mgmt.Amount != "5000 W" || mgmt.Meter != apitest.PAN(2).DRN() || mgmt.TID == 0 {
		t.Errorf("management token %+v", mgmt)
	}
	if currency.Currency == "" || currency.Amount != currency.Currency+" currency units" { // as encoded, rounded up
		t.Errorf("currency token %+v", currency)
	}
	if credit.What != "electricity" || credit.Amount != "12.5 kWh" || credit.Actor != operator.String() || credit.Register != apitest.Register {
		t.Errorf("credit token %+v", credit)
	}
	page2, err := tokensOf(ctx, m, operator, query(t, "p=2"))
	if err != nil || len(page2.Rows) != 3 || page2.Window.Number != 2 {
		t.Errorf("page 2: %v, %v", page2, err)
	}
	past, err := tokensOf(ctx, m, operator, query(t, "p=9"))
	if err != nil || len(past.Rows) != 3 || past.Window.Number != 2 {
		t.Errorf("page 9 (past the end) is not the last: %v, %v", past, err)
	}
	shown := fmt.Sprintf("%+v %+v %+v", all, page2, past)
	for _, d := range digits {
		if strings.Contains(shown, d) {
			t.Fatalf("the page shows token %s", d)
		}
	}

	today := time.Now().UTC().Format(console.DateLayout)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(console.DateLayout)
	for q, want := range map[string]int{
		"meter=" + apitest.PAN(2).DRN():                  2,
		"meter=" + apitest.PAN(2).String():               2,
		"meter=" + apitest.PAN(3).DRN():                  0,
		"class=test":                                     1,
		"class=management&meter=" + apitest.PAN(2).DRN(): 1,
		"class=credit":                                   console.PageSize + 1,
		"from=" + today + "&to=" + today:                 console.PageSize + 3,
		"from=" + tomorrow:                               0,
	} {
		got, err := tokensOf(ctx, m, officer, query(t, q))
		if err != nil || got.Window.Total != want {
			t.Errorf("%s: %v rows, want %d (%v)", q, got, want, err)
		}
	}
	for field, bad := range map[string]string{
		"meter": "meter=12345678901", // a check digit wrong
		"class": "class=reserved",
		"from":  "from=2026-13-01",
		"to":    "from=" + tomorrow + "&to=" + today,
	} {
		_, err := tokensOf(ctx, m, officer, query(t, bad))
		wantBad(t, err, field)
	}
	if _, err := tokensOf(ctx, m, nobody, query(t, "")); !errors.Is(err, sm.ErrRole) {
		t.Errorf("no role: %v", err)
	}
}

// TestSelftestAction: the self-test page's run action (module.selftest)
// runs the self-tests as the person, says what it found, the page then
// shows the new report, and the run is audited with the person's name.
func TestSelftestAction(t *testing.T) {
	ctx := context.Background()
	m := loaded(t)
	p := selftestPage(m)
	if len(p.Actions) != 1 || p.Actions[0].Op != "module.selftest" {
		t.Fatalf("actions %+v", p.Actions)
	}
	for _, a := range []sm.Actor{officer, operator, auditor} {
		if err := sm.Allow(a, p.Actions[0].Op); err != nil {
			t.Errorf("%s may not run the self-tests: %v", a, err)
		}
	}
	if err := sm.Allow(nobody, p.Actions[0].Op); err == nil {
		t.Error("a person without a role may run the self-tests")
	}
	before := time.Now()
	done, err := p.Actions[0].Do(ctx, console.Call{Actor: auditor})
	if err != nil || !strings.Contains(done, "passed") {
		t.Fatalf("run: %q, %v", done, err)
	}
	if _, err := p.Actions[0].Do(ctx, console.Call{Actor: nobody}); !errors.Is(err, sm.ErrRole) {
		t.Errorf("the module lets a person without a role run the self-tests: %v", err)
	}
	data, err := p.Data(ctx, auditor, query(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	got := data.(*Selftest)
	if !got.OK || got.Time.Before(before) || len(got.Tests) == 0 || len(got.Tests) != len(got.Results) || got.Fault != "" {
		t.Errorf("report %+v", got)
	}
	if !strings.Contains(done, fmt.Sprintf("All %d self-tests passed", len(got.Tests))) {
		t.Errorf("outcome %q", done)
	}
	l, err := m.Audit(auditor)
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := l.Page(ctx, audit.Filter{Action: "sm.selftest", Actor: auditor.String()}, 0, 10)
	if err != nil || len(recs) != 1 {
		t.Errorf("audit of the run: %d records, %v", len(recs), err)
	}
	if took(41*time.Microsecond) != "41 µs" || took(4100*time.Microsecond) != "4.1 ms" {
		t.Errorf("took: %q, %q", took(41*time.Microsecond), took(4100*time.Microsecond))
	}
	if out := selftestOutcome(sm.SelftestReport{Time: before, Results: []sm.SelftestResult{{Name: "x", Detail: "wrong"}}}); !strings.Contains(out, "error state") || !strings.Contains(out, "x failed: wrong") {
		t.Errorf("failure outcome %q", out)
	}
}

// TestSitePages: the module's site makes a console with the pages, their
// templates parsing.
func TestSitePages(t *testing.T) {
	ctx := context.Background()
	m, dir := loadedIn(t)
	db := moduleDB(t, dir)
	st, err := console.OpenStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	site := Site(m)
	if _, err := console.New(console.Config{Store: st, Site: site, Origin: "http://localhost:8081"}); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, p := range site.Pages {
		paths[p.Path] = true
	}
	for _, want := range []string{"selftest", "registers", "tokens"} {
		if !paths[want] {
			t.Errorf("no page %q", want)
		}
	}
}

// TestFaultedPages: a module in its error state (a register edited in the
// database) lists no registers and no tokens, and its pages say why
// instead of failing; a new self-test run fails again and says the module
// is in its error state.
func TestFaultedPages(t *testing.T) {
	ctx := context.Background()
	m, dir := loadedIn(t)
	m.Close()
	db := moduleDB(t, dir)
	if _, err := db.Exec(ctx, `UPDATE sm_register SET ken = 254`); err != nil {
		t.Fatal(err)
	}
	m, err := sm.Open(ctx, dir, sm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Fault() == nil {
		t.Fatal("the module opens without a fault")
	}
	regs, err := registersOf(ctx, m, auditor, query(t, ""), time.Now())
	if err != nil || regs.Fault == "" || len(regs.Rows) != 0 || regs.Window.Pages() != 1 {
		t.Errorf("registers of a faulted module: %+v, %v", regs, err)
	}
	toks, err := tokensOf(ctx, m, auditor, query(t, ""))
	if err != nil || toks.Fault == "" || len(toks.Rows) != 0 || toks.Window.Pages() != 1 {
		t.Errorf("tokens of a faulted module: %+v, %v", toks, err)
	}
	if st := selftestOf(m); st.Fault == "" || st.OK {
		t.Errorf("self-test page of a faulted module: %+v", st)
	}
	done, err := selftestPage(m).Actions[0].Do(ctx, console.Call{Actor: officer})
	if err != nil || !strings.Contains(done, "error state") || !strings.Contains(done, "registers") {
		t.Errorf("a run on a faulted module: %q, %v", done, err)
	}
}
