package kmcconsole

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/kmc"
)

// part is a fresh 20-byte key component: its value and KCV in hex.
func part(t *testing.T) (value, kcv string) {
	t.Helper()
	v := make([]byte, 20)
	rand.Read(v)
	c, err := keyagree.KCV(v)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(v), strings.ToUpper(hex.EncodeToString(c))
}

// importActions is a test KMC with supply group 123456 and its imports
// page's actions by name.
func importActions(t *testing.T) (context.Context, *kmc.KMC, map[string]console.Action) {
	t.Helper()
	ctx := context.Background()
	k, _ := consoletest.KMC(t)
	if _, err := k.AddSupplyGroup(ctx, "operator:test", 123456, "Utility"); err != nil {
		t.Fatal(err)
	}
	act := map[string]console.Action{}
	for _, a := range importsPage(k).Actions {
		act[a.Name] = a
	}
	return ctx, k, act
}

// TestImportSteps: the imports page's steps are passkey-confirmed, not
// two-person proposals, and the component is a secret field; their
// operations name the attributes and KCVs and never the component, and
// refuse bad values naming the field. Two officers' components import
// the key (the KMC combines them); the same officer twice, a component
// whose KCV is wrong and an unknown import are refused; an import is
// abandoned. No audit record holds a component.
func TestImportSteps(t *testing.T) {
	ctx, k, act := importActions(t)
	for _, name := range []string{"start", "component"} {
		if a := act[name]; !a.Confirm || a.Dual || len(a.Secret) != 1 || a.Secret[0] != "component" {
			t.Errorf("%s: confirm %v, dual %v, secret %v", name, a.Confirm, a.Dual, a.Secret)
		}
	}
	alice, bob := role.Officer.As("alice"), role.Officer.As("bob")
	v1, kcv1 := part(t)
	v2, kcv2 := part(t)
	start := url.Values{"sgc": {"123456"}, "type": {"VUDK"}, "krn": {"1"}, "component_kcv": {strings.ToLower(kcv1)}}
	var ie *console.InputError
	for field, bad := range map[string]url.Values{"sgc": {"type": {"VUDK"}, "component_kcv": {kcv1}},
		"type":          {"sgc": {"123456"}, "type": {"INIT"}, "component_kcv": {kcv1}},
		"bdt":           {"sgc": {"123456"}, "type": {"VUDK"}, "bdt": {"2000"}, "component_kcv": {kcv1}},
		"quorum":        {"sgc": {"123456"}, "type": {"VUDK"}, "quorum": {"9"}, "component_kcv": {kcv1}},
		"act":           {"sgc": {"123456"}, "type": {"VUDK"}, "act": {"2026-13-01"}, "component_kcv": {kcv1}},
		"exp":           {"sgc": {"123456"}, "type": {"VUDK"}, "exp": {"1 May 2030"}, "component_kcv": {kcv1}},
		"iut":           {"sgc": {"123456"}, "type": {"VUDK"}, "iut": {"2031"}, "component_kcv": {kcv1}},
		"ken":           {"sgc": {"123456"}, "type": {"VUDK"}, "ken": {"256"}, "component_kcv": {kcv1}},
		"clm":           {"sgc": {"123456"}, "type": {"VUDK"}, "clm": {"0001869"}, "component_kcv": {kcv1}},
		"component_kcv": {"sgc": {"123456"}, "type": {"VUDK"}, "component_kcv": {"XYZ"}}} {
		if _, err := act["start"].Describe(ctx, console.Call{Actor: alice, Form: bad}); !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("start with a bad %s: %v", field, err)
		}
	}
	o, err := act["start"].Describe(ctx, console.Call{Actor: alice, Form: start})
	ops := []console.Operation{o}
	if err != nil || o.Params["component_kcv"] != kcv1 || !strings.Contains(o.Words, "alice gives the first component, KCV "+kcv1) {
		t.Fatalf("describe start: %+v, %v", o, err)
	}
	withPart := func(f url.Values, v string) url.Values {
		out := url.Values{"component": {v}}
		for k, x := range f {
			out[k] = x
		}
		return out
	}
	if _, err := act["start"].Do(ctx, console.Call{Actor: alice, Form: withPart(start, "nothex")}); !errors.As(err, &ie) || ie.Field != "component" {
		t.Errorf("a component not in hex: %v", err)
	}
	done, err := act["start"].Do(ctx, console.Call{Actor: alice, Form: withPart(start, v1)})
	if err != nil || !strings.Contains(done, "1 of 2") {
		t.Fatalf("start: %q, %v", done, err)
	}
	pending, _ := k.PendingImports(ctx, time.Now())
	if len(pending) != 1 {
		t.Fatalf("pending %+v", pending)
	}
	id := pending[0].ID
	give := url.Values{"id": {id}, "component_kcv": {kcv2}}
	if _, err := act["component"].Describe(ctx, console.Call{Actor: bob, Form: url.Values{"id": {"IMP-0"}, "component_kcv": {kcv2}}}); !errors.As(err, &ie) || ie.Field != "id" {
		t.Errorf("an unknown import: %v", err)
	}
	o, err = act["component"].Describe(ctx, console.Call{Actor: bob, Form: give})
	if err != nil || o.Params["id"] != id || o.Params["component_kcv"] != kcv2 || !strings.Contains(o.Words, "bob's component (KCV "+kcv2+") of import "+id) {
		t.Fatalf("describe component: %+v, %v", o, err)
	}
	for _, op := range append(ops, o) {
		text := strings.ToUpper(op.Words + fmt.Sprint(op.Params))
		if strings.Contains(text, strings.ToUpper(v1)) || strings.Contains(text, strings.ToUpper(v2)) {
			t.Errorf("the operation %s holds a component", op.Kind)
		}
	}
	if _, err := act["component"].Do(ctx, console.Call{Actor: alice, Form: withPart(url.Values{"id": {id}, "component_kcv": {kcv2}}, v2)}); !errors.Is(err, kmc.ErrDualControl) {
		t.Errorf("alice's second component: %v, want kmc.ErrDualControl", err)
	}
	if _, err := act["component"].Do(ctx, console.Call{Actor: bob, Form: withPart(url.Values{"id": {id}, "component_kcv": {kcv1}}, v2)}); !errors.Is(err, kmc.ErrKCV) {
		t.Errorf("a component with another's KCV: %v, want kmc.ErrKCV", err)
	}
	done, err = act["component"].Do(ctx, console.Call{Actor: bob, Form: withPart(give, v2)})
	if err != nil || !strings.Contains(done, "is complete") {
		t.Fatalf("bob's component: %q, %v", done, err)
	}
	if keys, _ := k.VendingKeys(ctx); len(keys) != 1 || keys[0].Origin != kmc.OriginImported {
		t.Errorf("keys %+v", keys)
	}
	if _, err := act["start"].Do(ctx, console.Call{Actor: alice, Form: withPart(start, v1)}); err != nil {
		t.Fatal(err)
	}
	pending, _ = k.PendingImports(ctx, time.Now())
	if done, err := act["abandon"].Do(ctx, console.Call{Actor: bob, Form: url.Values{"id": {pending[0].ID}}}); err != nil || !strings.Contains(done, "abandoned") {
		t.Errorf("abandon: %q, %v", done, err)
	}
	if pending, _ = k.PendingImports(ctx, time.Now()); len(pending) != 0 {
		t.Errorf("pending after abandon: %+v", pending)
	}
	k.AuditLog().Records(ctx, 1, func(r audit.Record) error {
		b, _ := json.Marshal(r)
		text := strings.ToUpper(string(b))
		if strings.Contains(text, strings.ToUpper(v1)) || strings.Contains(text, strings.ToUpper(v2)) {
			t.Errorf("the audit record %s holds a component", r.Action)
		}
		return nil
	})
}

// TestImportLife: the start form sets the imported key's activation,
// expiry and issue-until days, key expiry number and credit limit, which its operation
// names (so the passkey signs them); an expiry before the activation is
// refused as the API refuses it.
func TestImportLife(t *testing.T) {
	ctx, k, act := importActions(t)
	alice, bob := role.Officer.As("alice"), role.Officer.As("bob")
	v1, kcv1 := part(t)
	v2, kcv2 := part(t)
	start := url.Values{"sgc": {"123456"}, "type": {"VCDK"}, "act": {"2026-01-01"}, "exp": {"2031-06-30"}, "iut": {"2031-12-31"}, "ken": {"0"},
		"clm": {"0001869f"}, "component_kcv": {kcv1}}
	o, err := act["start"].Describe(ctx, console.Call{Actor: alice, Form: start})
	if err != nil || o.Params["act"] != "2026-01-01" || o.Params["exp"] != "2031-06-30" || o.Params["ken"] != "0" || o.Params["clm"] != "0001869F" ||
		o.Params["iut"] != "2031-12-31" ||
		!strings.Contains(o.Words, "active from 2026-01-01, expires 2031-06-30, used by modules until 2031-12-31, KEN 0, credit limit 0001869F") {
		t.Fatalf("describe start: %+v, %v", o, err)
	}
	late := url.Values{"sgc": {"123456"}, "type": {"VCDK"}, "act": {"2031-01-01"}, "exp": {"2030-01-01"}, "component_kcv": {kcv1}}
	if _, err := act["start"].Describe(ctx, console.Call{Actor: alice, Form: late}); !errors.Is(err, kmc.ErrInvalid) {
		t.Errorf("an expiry before the activation: %v, want kmc.ErrInvalid", err)
	}
	start.Set("component", v1)
	if _, err := act["start"].Do(ctx, console.Call{Actor: alice, Form: start}); err != nil {
		t.Fatal(err)
	}
	pending, _ := k.PendingImports(ctx, time.Now())
	if len(pending) != 1 {
		t.Fatalf("pending %+v", pending)
	}
	give := url.Values{"id": {pending[0].ID}, "component_kcv": {kcv2}, "component": {v2}}
	if done, err := act["component"].Do(ctx, console.Call{Actor: bob, Form: give}); err != nil || !strings.Contains(done, "is complete") {
		t.Fatalf("bob's component: %q, %v", done, err)
	}
	keys, err := k.VendingKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %+v, %v", keys, err)
	}
	a := keys[0].VKAttributes
	if !a.ACT.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !a.EXP.Equal(time.Date(2031, 6, 30, 0, 0, 0, 0, time.UTC)) ||
		!a.IUT.Equal(time.Date(2031, 12, 31, 0, 0, 0, 0, time.UTC)) ||
		a.KEN != 0 || a.CLM != 0x0001869F {
		t.Errorf("imported key's attributes %+v", a)
	}
}
