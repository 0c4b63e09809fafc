package release_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// open plays one binary of version v opening component "sm" in db, and
// records what it decides.
func open(t *testing.T, db *store.DB, v string, allowDowngrade, test bool, officers ...string) (release.Floor, error) {
	t.Helper()
	ctx := context.Background()
	f, err := release.CheckFloor(ctx, db, "sm", release.Policy{Version: v, AllowDowngrade: allowDowngrade}, test)
	if err == nil {
		err = f.Authorize(test, officers)
	}
	if err != nil {
		return f, err
	}
	return f, db.Tx(ctx, func(tx *store.Tx) error { return f.Record(ctx, tx, time.Now()) })
}

func floorOf(t *testing.T, db *store.DB) string {
	t.Helper()
	var v string
	err := db.QueryRow(context.Background(), `SELECT version FROM release_floor WHERE component = 'sm'`).Scan(&v)
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFloor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		mustOpen := func(v string) release.Floor {
			t.Helper()
			f, err := open(t, db, v, false, false)
			if err != nil {
				t.Fatalf("%s: %v", v, err)
			}
			return f
		}
		if f := mustOpen(release.Devel); f.Changed() || floorOf(t, db) != "" {
			t.Fatal("a development build recorded a floor")
		}
		if f := mustOpen("v1.2.0"); !f.Raise || f.Action() != "sm.version.raise" || floorOf(t, db) != "v1.2.0" {
			t.Fatalf("first release: %+v, floor %q", f, floorOf(t, db))
		}
		if f := mustOpen("v1.2.0+rebuild"); f.Changed() {
			t.Fatal("the same version changed the floor")
		}
		mustOpen("v1.3.0-rc.1")
		mustOpen("v1.3.0")
		if floorOf(t, db) != "v1.3.0" {
			t.Fatalf("floor %q, want v1.3.0", floorOf(t, db))
		}

		// Older binaries are refused, naming both versions, and change nothing.
		for _, old := range []string{"v1.2.0", "v1.3.0-rc.1", release.Devel} {
			_, err := open(t, db, old, false, false)
			var re *release.RollbackError
			if !errors.As(err, &re) || !errors.Is(err, release.ErrRollback) || re.Floor != "v1.3.0" || re.Running != old ||
				!strings.Contains(err.Error(), "v1.3.0") || !strings.Contains(err.Error(), old) {
				t.Errorf("%s opened a v1.3.0 state: %v", old, err)
			}
		}
		// The override needs two distinct officers, or test mode.
		for _, officers := range [][]string{nil, {"alice"}, {"alice", "alice"}} {
			if _, err := open(t, db, "v1.2.0", true, false, officers...); !errors.Is(err, release.ErrRollback) {
				t.Errorf("downgrade by %v: %v", officers, err)
			}
		}
		if _, err := open(t, db, release.Devel, true, false, "alice", "bob"); !errors.Is(err, release.ErrRollback) {
			t.Errorf("a development build lowered the floor: %v", err)
		}
		if floorOf(t, db) != "v1.3.0" {
			t.Fatalf("a refused downgrade changed the floor to %q", floorOf(t, db))
		}
		f, err := open(t, db, "v1.2.0", true, false, "alice", "bob")
		if err != nil || !f.Downgrade || f.Action() != "sm.version.downgrade" || f.Details()["from"] != "v1.3.0" {
			t.Fatalf("dual-control downgrade: %+v, %v", f, err)
		}
		if floorOf(t, db) != "v1.2.0" {
			t.Fatalf("floor %q after the downgrade", floorOf(t, db))
		}
		// A test component opens under any floor in a development build.
		if _, err := open(t, db, release.Devel, false, true); err != nil {
			t.Errorf("devel, test mode: %v", err)
		}
		if _, err := open(t, db, "1.2", false, false); !errors.Is(err, release.ErrVersion) {
			t.Errorf("a binary with a bad version: %v", err)
		}
	})
}

func TestFloorRecordRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		slow, err := release.CheckFloor(ctx, db, "sm", release.Policy{Version: "v1.1.0"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := open(t, db, "v1.4.0", false, false); err != nil {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(tx *store.Tx) error { return slow.Record(ctx, tx, time.Now()) })
		if !errors.Is(err, release.ErrRollback) || floorOf(t, db) != "v1.4.0" {
			t.Fatalf("an overtaken raise: %v, floor %q", err, floorOf(t, db))
		}
	})
}
