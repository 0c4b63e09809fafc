package sts6_test

import (
	"strings"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/sts6"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestManufacturingModule: a manufacturing module over STS6 identifies as
// one, has no manufacturing firmware commands (SM?MK, SM?ML, SM?MG drive a
// key component entry device a software module has not; docs/sm.md §13):
// each is answered as an unknown command, as SM?ZZ is, to every role; and
// it issues class 1 test tokens (SM?VD) as a vending module does.
func TestManufacturingModule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newVariantEnv(t, db, sm.Actor{}, sm.Manufacturing)
		for _, cn := range []string{"pos-1", "alice", "aud-1"} {
			c := e.dial(cn)
			di := c.askFrame(sts6.Frame{Cmd: "DI"})
			if di.Status != sm.CodeOK || len(di.Fields) < 2 || di.Fields[1].Value != "manufacturing" {
				t.Fatalf("SM?DI: %+v", di)
			}
			for _, code := range []string{"MK", "ML", "MG", "ZZ"} {
				for _, fields := range [][]sts6.Field{nil, {sts6.Num(1), sts6.Print("600727000000000009")}} {
					r := c.askFrame(sts6.Frame{Cmd: code, Fields: fields})
					want := "unknown command SM?" + code
					if r.Status != sm.CodeExtended || len(r.Fields) != 1 || !strings.HasSuffix(r.Fields[0].Value, want) {
						t.Errorf("%s SM?%s %v: %+v, want EE %q", cn, code, fields, r, want)
					}
				}
			}
		}
		r := e.dial("pos-1").askFrame(sts6.Frame{Cmd: "VD", Fields: []sts6.Field{sts6.Num(1), sts6.Num(0), sts6.Num(268435455)}})
		if r.Status != sm.CodeOK || len(r.Fields) != 5 || r.Fields[0].Value != "02305843005052951967" {
			t.Fatalf("SM?VD on a manufacturing module: %+v", r)
		}
	})
}
