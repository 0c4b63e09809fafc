package kmcconsole

import (
	"context"
	"errors"
	"testing"

	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
)

// TestOverview: the overview counts the KMC's registers, names its key and
// passes the audit log's quick check; a caller with no role known to the
// KMC is refused by kmc.Allow.
func TestOverview(t *testing.T) {
	ctx := context.Background()
	k, _ := consoletest.KMC(t)
	for _, sgc := range []int{123456, 654321} {
		if _, err := k.AddSupplyGroup(ctx, "operator:test", sgc, "Utility"); err != nil {
			t.Fatal(err)
		}
	}
	o, err := overviewOf(ctx, k, role.Auditor.As("carol"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := k.CurrentKey(ctx)
	if o.Counts.SupplyGroups != 2 || o.Mode != kmc.ModeTest || o.Key == nil || o.Key.Fingerprint != key.Fingerprint ||
		o.Audit.Problem != "" || o.Audit.Records == 0 {
		t.Errorf("overview %+v", o)
	}
	if _, err := overviewOf(ctx, k, role.Actor{Name: "nobody"}); !errors.Is(err, kmc.ErrRole) {
		t.Errorf("no role: %v, want kmc.ErrRole", err)
	}
}
