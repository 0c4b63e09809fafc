package kmcconsole

import (
	"context"
	"net/url"
	"strings"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
)

// page is a page of the KMC's site that op lets a person read: its Data
// asks kmc.Allow again, so that no caller reads past the KMC's rules.
func page[T any](path, title, op, tmpl string, data func(context.Context, console.Query) (T, error), actions ...console.Action) console.Page {
	return console.Page{Path: path, Title: title, Op: op, Template: tmpl, Actions: actions,
		Data: func(ctx context.Context, a role.Actor, q console.Query) (any, error) {
			if err := kmc.Allow(a, op); err != nil {
				return nil, err
			}
			return data(ctx, q)
		}}
}

// sgcOf reads a supply group code: 1 to 6 digits; ok is false if the
// field is empty.
func sgcOf(q console.Query, field string) (sgc int, ok bool, err error) {
	n, ok, err := q.Number(field, 6)
	return int(n), ok, err
}

// formOf is an action's form, read as a query is: the same strict
// readers.
func formOf(c console.Call) console.Query { return console.Query{Values: c.Form} }

// value returns the one value of a form or query field (console.Query.One).
func value(v url.Values, field string) (string, error) { return console.Query{Values: v}.One(field) }

// choiceOf reads a field that is empty or one of allowed
// (console.Query.Choice).
func choiceOf(v url.Values, field string, allowed ...string) (string, error) {
	return console.Query{Values: v}.Choice(field, allowed...)
}

// required reads a form field that must not be empty.
func required(c console.Call, field, problem string) (string, error) {
	s, err := formOf(c).One(field)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", console.BadInput(field, problem)
	}
	return s, nil
}

// filtered returns the items of all that keep says to keep.
func filtered[T any](all []T, keep func(T) bool) []T {
	var out []T
	for _, x := range all {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}
