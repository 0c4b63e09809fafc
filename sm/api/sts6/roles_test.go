package sts6_test

import (
	"bytes"
	"testing"

	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/sts6"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestRoleBeforeFields: a command the caller may not call is refused for
// its role from the command code alone. A malformed frame of an officer
// command from an operator (or an unauthenticated caller) gets exactly the
// answer of a well-formed one, so the caller learns nothing of its fields.
func TestRoleBeforeFields(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, sm.Actor{})
		variants := map[string][][]sts6.Field{
			"KX": {{sts6.Num(1)}, nil, {sts6.Print("x")}, {sts6.Num(1), sts6.Num(2), sts6.Num(3)}, {sts6.Num(999999)}},
			"KC": {{sts6.Print("record"), sts6.Hex("0011223344556677"), sts6.Num(1), sts6.Num(0), sts6.Print("token")},
				nil, {sts6.Num(7)}},
			"VC": {nil, {sts6.Print("not a meter")}},
		}
		for _, who := range []string{"pos-1", ""} { // an operator; a plain caller with no role
			c := e.dial(who)
			for cmd, fieldsets := range variants {
				if who == "pos-1" && cmd == "VC" {
					continue // the operator may call SM?VC
				}
				var first []byte
				for i, fields := range fieldsets {
					q, err := sts6.Frame{Cmd: cmd, Fields: fields}.Encode()
					if err != nil {
						t.Fatal(err)
					}
					got := c.ask(q)
					f, err := sts6.Parse(got)
					if err != nil || f.Status != sm.CodeExtended {
						t.Fatalf("%q SM?%s #%d: %q, %v: want the role refusal", who, cmd, i, got, err)
					}
					if i == 0 {
						first = got
					} else if !bytes.Equal(got, first) {
						t.Errorf("%q SM?%s: a malformed frame got %q, a well-formed one %q", who, cmd, got, first)
					}
				}
			}
		}
	})
}
