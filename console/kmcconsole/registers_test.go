package kmcconsole

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
)

// fixture is a test KMC with supply groups 1 and 2, a VUDK of each, and
// modules 94000001 (vending, authorised for group 1) and 94000002
// (manufacturing, not authorised).
type fixture struct {
	t    *testing.T
	ctx  context.Context
	k    *kmc.KMC
	mods map[string]keyload.Module
}

const setup = "operator:setup"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), mods: map[string]keyload.Module{}}
	f.k, _ = consoletest.KMC(t)
	now := time.Now().UTC()
	for _, sgc := range []int{1, 2} {
		must(f.k.AddSupplyGroup(f.ctx, setup, sgc, "Group"))
		must(f.k.GenerateVendingKey(f.ctx, "officer:setup", kmc.VKAttributes{SGC: sgc, Type: kmc.VUDK, BDT: 2014, DKGA: 4,
			EA: 11, KEN: 255, ACT: now.AddDate(0, 0, -1), EXP: now.AddDate(1, 0, 0), IUT: now.AddDate(2, 0, 0), CLM: 0xFFFFFFFF}))
	}
	for id, v := range map[string]kmc.Variant{"94000001": kmc.Vending, "94000002": kmc.Manufacturing} {
		key, pkid := testparty.Module(t, "sm-"+id, id)
		f.mods[id] = keyload.Module{Key: key, PKID: pkid}
		must(f.k.RegisterSM(f.ctx, setup, kmc.SM{SMID: pkid, PublicKey: key.PublicKey(), Model: "Test-SSM-1",
			Firmware: "SSM1V100", Variant: v, Virtual: true, Emails: []string{"ops@utility.example"}}))
	}
	must(f.k.Grant(f.ctx, setup, "TestVendor:94000001", kmc.KUA{SGC: 1, Types: kmc.TypesOf(kmc.VUDK), Until: now.AddDate(1, 0, 0)}))
	return f
}

// issueAndRefuse has module 94000001 get a Key Load File and 94000002,
// not authorised, be refused twice.
func (f *fixture) issueAndRefuse() {
	f.t.Helper()
	if _, err := f.request("94000001"); err != nil {
		f.t.Fatal(err)
	}
	for range 2 {
		if _, err := f.request("94000002"); kmc.CodeOf(err) != kmc.ESmNotAuthorised {
			f.t.Fatalf("unauthorised module: %v", err)
		}
	}
}

// must returns v, or fails the test by panicking with err: for set-up
// and reads that cannot fail unless the test is broken.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// request has module id ask for a Key Load File now.
func (f *fixture) request(id string) (*kmc.KLF, error) {
	key := must(f.k.CurrentKey(f.ctx))
	text := must(kmc.FormatPublicKey(key))
	blocks := must(armor.Find(text))
	pk := must(records.ParsePKECDH(blocks[0].Body))
	req := must(keyload.NewRequest(f.mods[id], pk, time.Now(), "Test-SSM-1", "SSM1V100"))
	return f.k.IssueKLF(f.ctx, "gateway", req)
}

// data reads page p as a with query q.
func data[T any](t *testing.T, p console.Page, a role.Actor, q string) (T, error) {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Data(context.Background(), a, console.Query{Values: v})
	if err != nil {
		var zero T
		return zero, err
	}
	return d.(T), nil
}

// wantBad checks that err is a console input error naming field.
func wantBad(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ie *console.InputError
	if !errors.As(err, &ie) || ie.Field != field {
		t.Errorf("%s: %v, want a bad %q", what, err, field)
	}
}

var (
	officer  = role.Officer.As("olga")
	operator = role.Operator.As("otto")
	auditor  = role.Auditor.As("carol")
)

// TestKeysPage: supply groups and vending keys filter by SGC and state and
// show KCVs; a bad filter is an input error naming it.
func TestKeysPage(t *testing.T) {
	f := newFixture(t)
	p := keysPage(f.k)
	d := must(data[*Keys](t, p, auditor, ""))
	if len(d.Groups) != 2 || len(d.Keys) != 2 || d.Window.Total != 2 {
		t.Errorf("all: %d groups, %d keys", len(d.Groups), len(d.Keys))
	}
	d = must(data[*Keys](t, p, auditor, "sgc=000002&state=active"))
	if len(d.Groups) != 1 || d.Groups[0].SGC != 2 || len(d.Keys) != 1 || d.Keys[0].SGC != 2 || len(d.Keys[0].KCV) != 6 {
		t.Errorf("sgc 2: %+v", d)
	}
	if d = must(data[*Keys](t, p, auditor, "state=retired")); len(d.Keys) != 0 {
		t.Errorf("retired: %d keys", len(d.Keys))
	}
	for q, field := range map[string]string{"sgc=abc": "sgc", "sgc=1000000": "sgc", "sgc=-1": "sgc", "sgc=1&sgc=2": "sgc",
		"state=lost": "state"} {
		_, err := data[*Keys](t, p, auditor, q)
		wantBad(t, q, err, field)
	}
	if _, err := data[*Keys](t, p, role.Actor{Name: "nobody"}, ""); !errors.Is(err, kmc.ErrRole) {
		t.Errorf("no role: %v", err)
	}
}

// TestModulesPage: the registry filters by variant, state and id; the
// revoke action revokes with the reason and the person's name, and
// refuses a missing reason.
func TestModulesPage(t *testing.T) {
	f := newFixture(t)
	p := modulesPage(f.k)
	for q, want := range map[string]int{"": 2, "variant=vending": 1, "variant=manufacturing&id=0002": 1, "id=testvendor:9400": 2,
		"state=revoked": 0, "id=nope": 0} {
		if d := must(data[*Modules](t, p, auditor, q)); len(d.Modules) != want {
			t.Errorf("%q: %d modules, want %d", q, len(d.Modules), want)
		}
	}
	_, err := data[*Modules](t, p, auditor, "variant=virtual")
	wantBad(t, "variant", err, "variant")
	revoke := p.Actions[0]
	if revoke.Op != kmc.OpSMRevoke {
		t.Fatalf("revoke op %q", revoke.Op)
	}
	_, err = revoke.Do(f.ctx, console.Call{Actor: operator, Form: url.Values{"sm": {"TestVendor:94000002"}}})
	wantBad(t, "no reason", err, "reason")
	done, err := revoke.Do(f.ctx, console.Call{Actor: operator, Form: url.Values{"sm": {"TestVendor:94000002"}, "reason": {"lost"}}})
	if err != nil || !strings.Contains(done, "94000002") {
		t.Fatalf("revoke: %q, %v", done, err)
	}
	d := must(data[*Modules](t, p, auditor, "state=revoked"))
	if len(d.Modules) != 1 || d.Modules[0].RevokeReason != "lost" || d.Modules[0].RevokedBy != "operator:otto" {
		t.Errorf("revoked: %+v", d.Modules)
	}
	if _, err := revoke.Do(f.ctx, console.Call{Actor: operator, Form: url.Values{"sm": {"TestVendor:94000002"}, "reason": {"again"}}}); !errors.Is(err, kmc.ErrRevoked) {
		t.Errorf("second revoke: %v, want ErrRevoked", err)
	}
}

// TestKUAsGrantRevoke: a grant with a bad value names the field and
// changes nothing; a good one makes the authorisation, audited with the
// person's name; revoke ends it; the list filters by module and state.
func TestKUAsGrantRevoke(t *testing.T) {
	f := newFixture(t)
	p := kuasPage(f.k)
	grant, revoke := p.Actions[0], p.Actions[1]
	if grant.Op != kmc.OpKUAGrant || revoke.Op != kmc.OpKUARevoke {
		t.Fatalf("ops %q %q", grant.Op, revoke.Op)
	}
	until := time.Now().UTC().AddDate(0, 1, 0).Format(console.DateLayout)
	good := func() url.Values {
		return url.Values{"sm": {"TestVendor:94000002"}, "sgc": {"2"}, "types": {"INIT", "VUDK"}, "until": {until}}
	}
	for field, bad := range map[string][]string{"sm": {""}, "sgc": {"two"}, "types": {"VXDK"}, "until": {"next month"},
		"from": {"2026-13-01"}} {
		form := good()
		form[field] = bad
		_, err := grant.Do(f.ctx, console.Call{Actor: operator, Form: form})
		wantBad(t, "grant "+field, err, field)
	}
	form := good()
	form["types"] = nil
	_, err := grant.Do(f.ctx, console.Call{Actor: operator, Form: form})
	wantBad(t, "no types", err, "types")
	if all := must(f.k.KUAs(f.ctx, "")); len(all) != 1 {
		t.Fatalf("bad grants changed the KUAs: %+v", all)
	}
	done, err := grant.Do(f.ctx, console.Call{Actor: operator, Form: good()})
	if err != nil || !strings.Contains(done, "Granted authorisation 2") {
		t.Fatalf("grant: %q, %v", done, err)
	}
	d := must(data[*KUAs](t, p, auditor, "sm=TestVendor:94000002&state=valid"))
	if len(d.KUAs) != 1 || d.KUAs[0].GrantedBy != "operator:otto" || d.KUAs[0].Types != kmc.TypesOf(kmc.KeyInit, kmc.VUDK) {
		t.Fatalf("granted: %+v", d.KUAs)
	}
	if !auditHas(t, f.k, "operator:otto", "kua.grant") {
		t.Error("the grant is not audited with the person's name")
	}
	for _, id := range []string{"x", "0", "-2", "+2"} {
		_, err := revoke.Do(f.ctx, console.Call{Actor: operator, Form: url.Values{"id": {id}}})
		wantBad(t, "revoke "+id, err, "id")
	}
	if _, err := revoke.Do(f.ctx, console.Call{Actor: operator, Form: url.Values{"id": {"2"}}}); err != nil {
		t.Fatal(err)
	}
	if d := must(data[*KUAs](t, p, auditor, "state=revoked")); len(d.KUAs) != 1 || d.KUAs[0].RevokedBy != "operator:otto" {
		t.Errorf("revoked: %+v", d.KUAs)
	}
	if !auditHas(t, f.k, "operator:otto", "kua.revoke") {
		t.Error("the revoke is not audited with the person's name")
	}
	_, err = data[*KUAs](t, p, auditor, "sm=TestVendor:99")
	wantBad(t, "unknown module", err, "sm")
}

// auditHas reports whether the KMC's audit log holds a record of actor
// doing action.
func auditHas(t *testing.T, k *kmc.KMC, actor, action string) bool {
	t.Helper()
	return slices.Contains(consoletest.Actors(t, k.AuditLog(), action), actor)
}

// TestFilesAndRefusals: the Key Load Files page finds files by module,
// supply group and day, only for the roles kmc.OpKLFList allows; the
// refusals page counts the refused requests by code, and RefusalCounts
// gives them per day.
func TestFilesAndRefusals(t *testing.T) {
	f := newFixture(t)
	f.issueAndRefuse()
	today := time.Now().UTC().Format(console.DateLayout)
	p := klfsPage(f.k)
	for q, want := range map[string]int{"": 1, "sm=94000001&sgc=1": 1, "sgc=2": 0, "sm=94000002": 0,
		"from=" + today + "&to=" + today: 1, "to=2025-01-01": 0} {
		if d := must(data[*Files](t, p, auditor, q)); len(d.Files) != want {
			t.Errorf("%q: %d files, want %d", q, len(d.Files), want)
		}
	}
	for q, field := range map[string]string{"from=yesterday": "from", "from=2026-02-02&to=2026-02-01": "to", "sm=nobody": "sm"} {
		_, err := data[*Files](t, p, auditor, q)
		wantBad(t, q, err, field)
	}
	if _, err := data[*Files](t, p, officer, ""); !errors.Is(err, kmc.ErrRole) {
		t.Errorf("officer reads the files: %v, want ErrRole (kmc.OpKLFList)", err)
	}
	r := must(data[*Refusals](t, refusalsPage(f.k), operator, ""))
	if r.Total != 2 || len(r.Codes) != 1 || r.Codes[0].Code != kmc.ESmNotAuthorised || r.Codes[0].N != 2 ||
		r.Codes[0].Description() == "" || len(r.Latest) != 2 || r.Latest[0].Seq <= r.Latest[1].Seq || r.To != today {
		t.Errorf("refusals: %+v", r)
	}
	if r := must(data[*Refusals](t, refusalsPage(f.k), operator, "to=2025-01-01")); r.Total != 0 {
		t.Errorf("refusals before they were made: %d", r.Total)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	counts := must(RefusalCounts(f.ctx, f.k, auditor, day, day.AddDate(0, 0, 1), 24*time.Hour))
	if len(counts) != 1 || counts[0] != (Count{Start: day, Code: kmc.ESmNotAuthorised, N: 2}) {
		t.Errorf("RefusalCounts = %+v", counts)
	}
	if _, err := RefusalCounts(f.ctx, f.k, officer, day, day, time.Hour); !errors.Is(err, kmc.ErrRole) {
		t.Errorf("RefusalCounts for an officer: %v", err)
	}
}

// TestPaging: a list longer than a page is cut on the server: page 2
// holds the rows after the first 50, a page past the end is the last, and
// the filters stay in the pages' links; the supply groups page by "gp".
func TestPaging(t *testing.T) {
	f := newFixture(t)
	until := time.Now().UTC().AddDate(0, 1, 0)
	for sgc := 10; sgc < 65; sgc++ { // 55 more authorisations: 56 in all
		must(f.k.AddSupplyGroup(f.ctx, setup, sgc, "Group"))
		must(f.k.Grant(f.ctx, setup, "TestVendor:94000001", kmc.KUA{SGC: sgc, Types: kmc.TypesOf(kmc.VDDK), Until: until}))
	}
	p := kuasPage(f.k)
	d := must(data[*KUAs](t, p, auditor, "sm=TestVendor:94000001&p=2"))
	if d.Window.Total != 56 || d.Window.Number != 2 || len(d.KUAs) != 6 || d.KUAs[0].SGC != 59 || d.Window.Next() != "" ||
		!strings.Contains(d.Window.Prev(), "sm=TestVendor%3A94000001") {
		t.Errorf("page 2: %d rows of %d, first SGC %d, prev %q", len(d.KUAs), d.Window.Total, d.KUAs[0].SGC, d.Window.Prev())
	}
	if d := must(data[*KUAs](t, p, auditor, "p=9")); d.Window.Number != 2 || len(d.KUAs) != 6 {
		t.Errorf("page past the end: page %d, %d rows", d.Window.Number, len(d.KUAs))
	}
	if d := must(data[*Keys](t, keysPage(f.k), auditor, "p=x&gp=2")); d.Window.Number != 1 || len(d.Keys) != 2 ||
		d.GroupsWindow.Total != 57 || len(d.Groups) != 7 || d.Groups[0].SGC != 58 {
		t.Errorf("keys page: page %d, groups page %d: %d groups of %d", d.Window.Number, d.GroupsWindow.Number,
			len(d.Groups), d.GroupsWindow.Total)
	}
}
