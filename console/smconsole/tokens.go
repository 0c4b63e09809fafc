package smconsole

import (
	"context"
	_ "embed"
	"fmt"
	"slices"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

//go:embed tokens.html
var tokensTemplate string

// tokensPage lists the tokens the module issued ("token.list",
// sm.Module.Issues): when, what, for which meter and register, by whom —
// never the 20 digits of a token, which are a bearer value (its TID and
// class identify it). Filtered by meter, class and days, paged on the
// server.
func tokensPage(m *sm.Module) console.Page {
	return console.Page{Path: "tokens", Title: "Tokens issued", Op: "token.list", Template: tokensTemplate,
		Data: func(ctx context.Context, a role.Actor, q console.Query) (any, error) { return tokensOf(ctx, m, a, q) }}
}

// Tokens is what the tokens page shows.
type Tokens struct {
	Fault string // why the module is in its error state (and lists none), or ""
	// Meter, Class, From and To are the filters as given.
	Meter, Class, From, To string
	Classes                []string // the classes to choose from
	Rows                   []TokenRow
	Window                 console.Window
}

// TokenRow is one issue of tokens, described for people.
type TokenRow struct {
	sm.IssueRecord
	Meter  string // the meter's DRN, or "" for a test token
	What   string // the subclass's name
	Amount string // with its unit: "12.5 kWh", "5000 W"
}

// classes are the token classes by the names the filter takes.
var classes = []sts.Class{sts.ClassCredit, sts.ClassTest, sts.ClassManagement}

// tokensOf reads the tokens page for a; the module checks a's role.
func tokensOf(ctx context.Context, m *sm.Module, a role.Actor, q console.Query) (*Tokens, error) {
	out := &Tokens{}
	for _, c := range classes {
		out.Classes = append(out.Classes, c.String())
	}
	f, err := issueFilter(q, out)
	if err != nil {
		return nil, err
	}
	w := q.Window()
	if out.Fault = faultOf(m); out.Fault != "" {
		out.Window = w.Of(0)
		return out, nil
	}
	list, total, err := m.Issues(ctx, a, f, w.Offset(), w.Size)
	if err != nil {
		return nil, err
	}
	if out.Window = w.Of(total); out.Window.Number != w.Number { // past the end: the last page
		if list, _, err = m.Issues(ctx, a, f, out.Window.Offset(), w.Size); err != nil {
			return nil, err
		}
	}
	for _, t := range list {
		out.Rows = append(out.Rows, tokenRow(t))
	}
	return out, nil
}

// issueFilter reads the page's filters into the module's, keeping them as
// given in out.
func issueFilter(q console.Query, out *Tokens) (sm.IssueFilter, error) {
	var f sm.IssueFilter
	var err error
	if out.Meter, err = q.One("meter"); err != nil {
		return f, err
	}
	if out.Meter != "" {
		p, err := meterPAN(out.Meter)
		if err != nil {
			return f, err
		}
		f.PAN = p.String()
	}
	if out.Class, err = q.Choice("class", out.Classes...); err != nil {
		return f, err
	}
	if i := slices.Index(out.Classes, out.Class); i >= 0 {
		f.Classes = []sts.Class{classes[i]}
	}
	if f.From, f.Until, err = q.Days(); err != nil {
		return f, err
	}
	out.From, _ = q.One("from")
	out.To, _ = q.One("to")
	return f, nil
}

// meterPAN reads a meter as its DRN (11 digits with IIN 600727, 13 with
// IIN 0000) or its whole 18-digit PAN.
func meterPAN(s string) (sts.PAN, error) {
	var p sts.PAN
	var err error
	switch len(s) {
	case 11:
		p, err = sts.NewPAN("600727", s)
	case 13:
		p, err = sts.NewPAN("0000", s)
	default:
		p, err = sts.ParsePAN(s)
	}
	if err != nil {
		return p, console.BadInput("meter", "want the meter's DRN (11 or 13 digits) or PAN (18 digits), check digits right")
	}
	return p, nil
}

// tokenRow describes t for people.
func tokenRow(t sm.IssueRecord) TokenRow {
	row := TokenRow{IssueRecord: t, Meter: t.PAN, Amount: amountOf(t)}
	if p, err := sts.ParsePAN(t.PAN); err == nil {
		row.Meter = p.DRN()
	}
	row.What, _ = sts.SubclassName(t.Class, t.Subclass)
	if t.Class == sts.ClassManagement && t.Subclass == sts.DecoderKey1 {
		row.What = "key change"
	}
	return row
}

// creditUnits are the units of the credit subclasses' amounts.
var creditUnits = map[sts.Subclass]string{sts.Electricity: "kWh", sts.Water: "m³", sts.Gas: "m³", sts.ConnectionTime: "time units"}

// amountOf is what t carries, with its unit.
func amountOf(t sm.IssueRecord) string {
	switch {
	case t.Class == sts.ClassCredit && t.Subclass == sts.ElectricityCurrency:
		return t.Currency + " currency units"
	case t.Class == sts.ClassCredit:
		return fmt.Sprintf("%d.%d %s", t.Amount/10, t.Amount%10, creditUnits[t.Subclass])
	case t.Class != sts.ClassManagement:
		return "—"
	}
	switch t.Subclass {
	case sts.MaximumPowerLimit, sts.MaximumPhasePowerUnbalanceLimit:
		return fmt.Sprintf("%d W", t.Value)
	case sts.ClearCredit:
		if t.Value == 0xFFFF {
			return "all registers"
		}
		return fmt.Sprintf("register %d", t.Value)
	case sts.TariffRate, sts.WaterMeterFactor:
		return fmt.Sprintf("%d", t.Value)
	case sts.DecoderKey1:
		return fmt.Sprintf("to %v (%d tokens)", t.To, t.Tokens)
	}
	return "—"
}
