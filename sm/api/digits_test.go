package api_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
)

// TestDigitFieldsOfJSON sends meters and key change targets whose SGC, TI,
// KRN or PAN break the standard's rule: each is refused 4xx with the
// member named, never 500 and never served.
func TestDigitFieldsOfJSON(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	op := e.client(sm.Operator)
	base := credit(1, "", 10)
	meter := func(mutate func(m map[string]any)) map[string]any {
		m := map[string]any{"pan": base.Meter.PAN, "ti": base.Meter.TI, "sgc": base.Meter.SGC, "krn": base.Meter.KRN, "kt": base.Meter.KT}
		mutate(m)
		return m
	}
	tests := []struct {
		name, field string
		mutate      func(m map[string]any)
	}{
		{"KRN 0", "meter.krn", func(m map[string]any) { m["krn"] = 0 }},
		{"KRN 10", "meter.krn", func(m map[string]any) { m["krn"] = 10 }},
		{"KRN 15", "meter.krn", func(m map[string]any) { m["krn"] = 15 }},
		{"TI 100", "meter.ti", func(m map[string]any) { m["ti"] = 100 }},
		{"SGC 1000000", "meter.sgc", func(m map[string]any) { m["sgc"] = 1_000_000 }},
		{"PAN 13 digits", "meter.pan", func(m map[string]any) { m["pan"] = "6007270000000" }},
		{"PAN 20 digits", "meter.pan", func(m map[string]any) { m["pan"] = "60072700000000000900" }},
		{"PAN with a sign", "meter.pan", func(m map[string]any) { m["pan"] = "+00727000000000009" }},
		{"PAN in other digits", "meter.pan", func(m map[string]any) { m["pan"] = strings.Repeat("６", 18) }},
	}
	for _, tt := range tests {
		body := map[string]any{"meter": meter(tt.mutate), "subclass": 0, "amount": 10}
		wantFieldRefused(t, tt.name, tt.field, op.Do(ctx, "POST", "/v1/credit", body, nil))
	}
	// The key change target and its TI go through the same checks.
	for _, tt := range []struct {
		name, field string
		to          map[string]any
		ti          int
	}{
		{"to KRN 10", "to.krn", map[string]any{"sgc": base.Meter.SGC, "krn": 10, "kt": 2}, 1},
		{"to KRN 0", "to.krn", map[string]any{"sgc": base.Meter.SGC, "krn": 0, "kt": 2}, 1},
		{"to SGC 1000000", "to.sgc", map[string]any{"sgc": 1_000_000, "krn": 2, "kt": 2}, 1},
		{"TI 100", "ti", map[string]any{"sgc": base.Meter.SGC, "krn": 2, "kt": 2}, 100},
	} {
		body := map[string]any{"meter": meter(func(map[string]any) {}), "to": tt.to, "ti": tt.ti}
		wantFieldRefused(t, tt.name, tt.field, op.Do(ctx, "POST", "/v1/keychange", body, nil))
	}
	if _, err := op.Credit(ctx, base); err != nil {
		t.Fatalf("the unchanged meter is refused: %v", err)
	}
}

// wantFieldRefused fails t unless err is a 4xx refusal naming field.
func wantFieldRefused(t *testing.T, name, field string, err error) {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) || se.Status/100 != 4 {
		t.Errorf("%s: %v; want a 4xx refusal", name, err)
		return
	}
	if !strings.Contains(se.Body.Error, field) && se.Body.Field != field {
		t.Errorf("%s: %d %+v does not name %s", name, se.Status, se.Body, field)
	}
}
