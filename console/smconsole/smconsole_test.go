package smconsole

import (
	"context"
	"testing"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/sm"
)

// TestSlotsByRole: the identity page lists the KEK slots to officers and
// auditors only, as the module's own table says; an operator is told
// instead, and sees the rest of the page.
func TestSlotsByRole(t *testing.T) {
	ctx := context.Background()
	m, _ := consoletest.Module(t)
	for _, tc := range []struct {
		actor   sm.Actor
		refused bool
	}{{sm.Officer.As("alice"), false}, {sm.Auditor.As("carol"), false}, {sm.Operator.As("pos"), true}} {
		id, err := identityOf(ctx, m, tc.actor)
		if err != nil {
			t.Fatalf("%s: %v", tc.actor, err)
		}
		if id.SlotsRefused != tc.refused || id.SMID != m.Identify().SMID || len(id.Firmware) != 2 {
			t.Errorf("%s: slots refused %v, want %v; SMID %s; firmware %v", tc.actor, id.SlotsRefused, tc.refused, id.SMID, id.Firmware)
		}
	}
}
