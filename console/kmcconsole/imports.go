package kmcconsole

import (
	"context"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
)

//go:embed imports.html
var importsTemplate string

// Vending-key imports (docs/console.md, "Vending-key imports"): each
// officer types their own secret component of a key to import. No
// officer approves another's step — the KMC counts the quorum of
// distinct registered officers itself — so each step is a
// passkey-confirmed one (console.Action.Confirm), not a two-person
// proposal: the passkey signs the import's attributes and the
// component's KCV, and the component, a Secret field, reaches only Do,
// which clears it once the KMC has sealed it.

// importsPage lists the pending imports (KCVs and officers only) and
// offers starting one, giving a further component, and abandoning one.
func importsPage(k *kmc.KMC) console.Page {
	secret := []string{"component"}
	return page("imports", "Vending-key imports", kmc.OpVKImport, importsTemplate,
		func(ctx context.Context, _ console.Query) ([]kmc.PendingImport, error) {
			return k.PendingImports(ctx, time.Now())
		},
		console.Action{Name: "start", Op: kmc.OpVKImport, Confirm: true, Secret: secret,
			Describe: func(_ context.Context, c console.Call) (console.Operation, error) { return describeStart(c) },
			Do:       func(ctx context.Context, c console.Call) (string, error) { return startImport(ctx, k, c) }},
		console.Action{Name: "component", Op: kmc.OpVKImport, Confirm: true, Secret: secret,
			Describe: func(ctx context.Context, c console.Call) (console.Operation, error) {
				return describeComponent(ctx, k, c)
			},
			Do: func(ctx context.Context, c console.Call) (string, error) { return addComponent(ctx, k, c) }},
		console.Action{Name: "abandon", Op: kmc.OpVKImport,
			Do: func(ctx context.Context, c console.Call) (string, error) { return abandonImport(ctx, k, c) }})
}

// importForm is the import a start form asks for, as the API's request.
type importForm struct {
	req    api.StartImportRequest
	params map[string]string
}

// hexField reads a field of n bytes in hex (any case), or "" if optional
// and empty.
func hexField(c console.Call, field string, n int, optional bool) (string, error) {
	s, err := value(c.Form, field)
	s = strings.ToUpper(strings.TrimSpace(s))
	if err != nil || s == "" && optional {
		return "", err
	}
	if b, err := hex.DecodeString(s); err != nil || len(b) != n {
		return "", console.BadInput(field, fmt.Sprintf("%d hex digits", 2*n))
	}
	return s, nil
}

// number reads an optional decimal field of up to digits digits that must
// be one of allowed if any are given (0 if empty).
func number(c console.Call, field string, digits int, allowed ...int) (int, error) {
	n, ok, err := formOf(c).Number(field, digits)
	if err != nil || !ok {
		return 0, err
	}
	for _, a := range allowed {
		if int(n) == a {
			return a, nil
		}
	}
	if len(allowed) > 0 {
		return 0, console.BadInput(field, fmt.Sprintf("one of %v, or empty for the default", allowed))
	}
	return int(n), nil
}

// between is lo, lo+1, …, hi.
func between(lo, hi int) []int {
	out := make([]int, 0, hi-lo+1)
	for n := lo; n <= hi; n++ {
		out = append(out, n)
	}
	return out
}

// readStart reads a start form without its component: the key's
// attributes (the API's defaults for what is left empty), the quorum, the
// combined key's KCV (optional) and the component's KCV.
func readStart(c console.Call) (importForm, error) {
	var f importForm
	sgc, ok, err := sgcOf(formOf(c), "sgc")
	if err == nil && !ok {
		err = console.BadInput("sgc", "the supply group code, 1 to 6 digits")
	}
	if err != nil {
		return f, err
	}
	kt, err := choiceOf(c.Form, "type", "VDDK", "VUDK", "VCDK")
	if err == nil && kt == "" {
		err = console.BadInput("type", "VDDK, VUDK or VCDK")
	}
	if err != nil {
		return f, err
	}
	a := api.VKAttributes{SGC: sgc, Type: kt}
	if a.KRN, err = number(c, "krn", 1, between(1, 9)...); err != nil {
		return f, err
	}
	if a.BDT, err = number(c, "bdt", 4, 1993, 2014, 2035); err != nil {
		return f, err
	}
	if a.DKGA, err = number(c, "dkga", 1, 2, 4); err != nil {
		return f, err
	}
	if a.EA, err = number(c, "ea", 2, 7, 9, 11); err != nil {
		return f, err
	}
	if err := readLife(c, &a); err != nil {
		return f, err
	}
	quorum, err := number(c, "quorum", 1, between(2, kmc.MaxQuorum)...)
	if err != nil {
		return f, err
	}
	kcv, err := hexField(c, "kcv", 3, true)
	if err != nil {
		return f, err
	}
	ckcv, err := hexField(c, "component_kcv", 3, false)
	if err != nil {
		return f, err
	}
	f.req = api.StartImportRequest{VKAttributes: a, Quorum: quorum, KCV: kcv, Component: api.Component{KCV: ckcv}}
	f.params = map[string]string{"sgc": strconv.Itoa(sgc), "type": kt, "krn": strconv.Itoa(a.KRN), "bdt": strconv.Itoa(a.BDT),
		"dkga": strconv.Itoa(a.DKGA), "ea": strconv.Itoa(a.EA), "act": day(a.ACT), "exp": day(a.EXP), "iut": day(a.IUT), "ken": ken(a.KEN),
		"clm": a.CLM, "quorum": strconv.Itoa(quorum), "kcv": kcv, "component_kcv": ckcv}
	return f, nil
}

// readLife reads the key's life and limit into a, each optional (the
// API's default when empty): the days it is active from, expires and is
// used until by modules (UTC), its key expiry number (0 to 255) and its
// credit limit (8 hex digits).
func readLife(c console.Call, a *api.VKAttributes) error {
	q := formOf(c)
	var err error
	if a.ACT, err = q.Day("act"); err != nil {
		return err
	}
	if a.EXP, err = q.Day("exp"); err != nil {
		return err
	}
	if a.IUT, err = q.Day("iut"); err != nil {
		return err
	}
	n, ok, err := q.Number("ken", 3)
	if err == nil && ok && n > 255 {
		err = console.BadInput("ken", "0 to 255, or empty for 255")
	}
	if err != nil {
		return err
	}
	if ok {
		v := int(n)
		a.KEN = &v
	}
	a.CLM, err = hexField(c, "clm", 4, true)
	return err
}

// day is t's day (UTC) as a form gives it, or "" for the zero time.
func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(console.DateLayout)
}

// ken is a key expiry number as a form gives it, or "" if not given.
func ken(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

// orDefault is n as words, or "the default" if zero.
func orDefault(n int) string {
	if n == 0 {
		return "default"
	}
	return strconv.Itoa(n)
}

// describeStart is the import a start form asks for: the attributes, the
// quorum and KCVs the officer's passkey signs; never the component.
func describeStart(c console.Call) (console.Operation, error) {
	f, err := readStart(c)
	if err != nil {
		return console.Operation{}, err
	}
	attrs, err := f.req.Attributes(time.Now())
	if err == nil {
		err = attrs.Check()
	}
	if err != nil {
		return console.Operation{}, err
	}
	a, combined := f.req.VKAttributes, "not given"
	if f.req.KCV != "" {
		combined = f.req.KCV
	}
	quorum := f.req.Quorum
	if quorum == 0 {
		quorum = 2
	}
	return console.Operation{Kind: "kmc.vk.import.start", Params: f.params,
		Words: fmt.Sprintf("Start importing a %s of supply group %06d (KRN %s, base date %s, DKGA %s, EA %s; %s) from %d officers' components, "+
			"the combined key's KCV %s: %s gives the first component, KCV %s", a.Type, a.SGC, orDefault(a.KRN), orDefault(a.BDT),
			orDefault(a.DKGA), orDefault(a.EA), lifeWords(a), quorum, combined, c.Actor.Name, f.req.Component.KCV)}, nil
}

// lifeWords says a's life and limit as the form gave them, the defaults
// in words.
func lifeWords(a api.VKAttributes) string {
	from, until, used, k, clm := "now", "ten years later", "until it expires", "255", "no credit limit"
	if !a.ACT.IsZero() {
		from = day(a.ACT)
	}
	if !a.EXP.IsZero() {
		until = day(a.EXP)
	}
	if !a.IUT.IsZero() {
		used = "until " + day(a.IUT)
	}
	if a.KEN != nil {
		k = ken(a.KEN)
	}
	if a.CLM != "" {
		clm = "credit limit " + a.CLM
	}
	return fmt.Sprintf("active from %s, expires %s, used by modules %s, KEN %s, %s", from, until, used, k, clm)
}

// component reads the form's secret component (hex) as the officer's
// KeyComponent with kcv; the caller clears its value.
func component(c console.Call, kcv string) (kmc.KeyComponent, error) {
	comp := api.Component{Value: strings.TrimSpace(c.Form.Get("component")), KCV: kcv}
	if comp.Value == "" {
		return kmc.KeyComponent{}, console.BadInput("component", "your component, in hex")
	}
	kc, err := comp.KeyComponent(c.Actor.Name)
	if err != nil {
		return kmc.KeyComponent{}, console.BadInput("component", "hex digits only")
	}
	return kc, nil
}

// startImport starts the import of a confirmed start form with the
// officer's component, which it clears once the KMC has sealed it.
func startImport(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	f, err := readStart(c)
	if err != nil {
		return "", err
	}
	now := time.Now()
	attrs, err := f.req.Attributes(now)
	if err != nil {
		return "", err
	}
	kcv, _ := hex.DecodeString(f.req.KCV)
	comp, err := component(c, f.req.Component.KCV)
	if err != nil {
		return "", err
	}
	defer clear(comp.Value)
	p, err := k.StartImport(ctx, c.Actor.String(), attrs, f.req.Quorum, kcv, comp, now, now.Add(api.ImportLifetime))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Import %s started: your component (KCV %s) is held, 1 of %d; the import waits for the others until %s.",
		p.ID, f.req.Component.KCV, p.Quorum, p.Expires.UTC().Format("2006-01-02 15:04:05 UTC")), nil
}

// pendingImport returns the pending import of the form's "id".
func pendingImport(ctx context.Context, k *kmc.KMC, c console.Call) (kmc.PendingImport, error) {
	id, err := required(c, "id", "the import's id")
	if err != nil {
		return kmc.PendingImport{}, err
	}
	list, err := k.PendingImports(ctx, time.Now())
	if err != nil {
		return kmc.PendingImport{}, err
	}
	for _, p := range list {
		if p.ID == strings.TrimSpace(id) {
			return p, nil
		}
	}
	return kmc.PendingImport{}, console.BadInput("id", "no pending import has this id (completed, abandoned or expired?)")
}

// describeComponent is a further component a form gives: the import (its
// id, attributes and combined KCV) and the component's KCV; never the
// component.
func describeComponent(ctx context.Context, k *kmc.KMC, c console.Call) (console.Operation, error) {
	p, err := pendingImport(ctx, k, c)
	if err != nil {
		return console.Operation{}, err
	}
	ckcv, err := hexField(c, "component_kcv", 3, false)
	if err != nil {
		return console.Operation{}, err
	}
	a, combined := p.Attrs, strings.ToUpper(hex.EncodeToString(p.KCV))
	if combined == "" {
		combined = "not given"
	}
	return console.Operation{Kind: "kmc.vk.import.component",
		Params: map[string]string{"id": p.ID, "sgc": strconv.Itoa(a.SGC), "type": a.Type.String(), "krn": strconv.Itoa(a.KRN),
			"quorum": strconv.Itoa(p.Quorum), "kcv": combined, "component_kcv": ckcv},
		Words: fmt.Sprintf("Give %s's component (KCV %s) of import %s: a %s of supply group %06d (KRN %s), %d officers' components, the combined key's KCV %s",
			c.Actor.Name, ckcv, p.ID, a.Type, a.SGC, orDefault(a.KRN), p.Quorum, combined)}, nil
}

// addComponent gives the officer's component of a confirmed form, which
// it clears once the KMC has sealed it (or combined the key).
func addComponent(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	ckcv, err := hexField(c, "component_kcv", 3, false)
	if err != nil {
		return "", err
	}
	comp, err := component(c, ckcv)
	if err != nil {
		return "", err
	}
	defer clear(comp.Value)
	p, vk, done, err := k.AddImportComponent(ctx, c.Actor.String(), strings.TrimSpace(c.Form.Get("id")), comp, time.Now())
	if err != nil {
		return "", err
	}
	if done {
		return fmt.Sprintf("Import %s is complete: vending key %s (%s of supply group %06d, KRN %d) is imported, KCV %s.",
			p.ID, vk.ID, vk.Type, vk.SGC, vk.KRN, vk.KCV), nil
	}
	return fmt.Sprintf("Your component (KCV %s) of import %s is held: %d of %d.", ckcv, p.ID, len(p.Officers), p.Quorum), nil
}

// abandonImport abandons a pending import: its components are deleted.
func abandonImport(ctx context.Context, k *kmc.KMC, c console.Call) (string, error) {
	p, err := pendingImport(ctx, k, c)
	if err != nil {
		return "", err
	}
	if err := k.AbandonImport(ctx, c.Actor.String(), p.ID, time.Now()); err != nil {
		return "", err
	}
	return fmt.Sprintf("Import %s is abandoned: the components held are deleted.", p.ID), nil
}
