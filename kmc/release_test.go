package kmc_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/release"
)

// TestKMCOlderBinaryRefused: a live KMC records the highest release that
// opened it; an older one is refused naming both versions, and the
// dual-control override lowers the floor with an audit record.
func TestKMCOlderBinaryRefused(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "kmc")
	initLiveKMC(t, dir)
	open := func(v string, downgrade bool) (*kmc.KMC, error) {
		k, err := kmc.OpenDir(ctx, dir, kmc.OpenOptions{Officers: liveOfficers(),
			Release: release.Policy{Version: v, AllowDowngrade: downgrade}})
		if err == nil {
			t.Cleanup(func() { k.Close() })
		}
		return k, err
	}
	k, err := open("v2.1.0", false)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	for _, old := range []string{"v2.0.0", release.Devel} {
		if _, err := open(old, false); !errors.Is(err, release.ErrRollback) || !strings.Contains(err.Error(), "v2.1.0") ||
			!strings.Contains(err.Error(), old) {
			t.Fatalf("%s opened a KMC v2.1.0 had opened: %v", old, err)
		}
	}
	k, err = open("v2.0.0", true)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	var details string
	if err := k.AuditLog().Records(ctx, 1, func(r audit.Record) error {
		actions = append(actions, r.Action)
		if r.Action == "kmc.version.downgrade" {
			details = string(r.Details.(json.RawMessage))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(actions, " "), "kmc.version.raise") || !strings.Contains(details, `"from":"v2.1.0"`) ||
		!strings.Contains(details, `"alice"`) || !strings.Contains(details, `"bob"`) {
		t.Fatalf("audit log %v, downgrade %s", actions, details)
	}
}
