package sm_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/release"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func releaseOfficers() []keystore.Component {
	return []keystore.Component{{Officer: "alice", Passphrase: []byte("correct horse battery")},
		{Officer: "bob", Passphrase: []byte("staple battery horse")}}
}

// openAs opens the production module in dir as a binary of version v.
func openAs(t *testing.T, dir string, db *store.DB, v string, downgrade bool) (*sm.Module, error) {
	t.Helper()
	m, err := sm.Open(context.Background(), dir, sm.Options{DB: db, Officers: releaseOfficers(),
		Release: release.Policy{Version: v, AllowDowngrade: downgrade}})
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

// auditActions returns the actions of the module's audit log, in order.
func auditActions(t *testing.T, m *sm.Module) (actions []string, last versionRecord) {
	t.Helper()
	log, err := m.Audit(auditor)
	if err != nil {
		t.Fatal(err)
	}
	err = log.Records(context.Background(), 1, func(r audit.Record) error {
		actions = append(actions, r.Action)
		if strings.HasPrefix(r.Action, "sm.version.") {
			last = versionRecord{Action: r.Action}
			return json.Unmarshal(r.Details.(json.RawMessage), &last.Details)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return actions, last
}

func TestOlderBinaryRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dir := filepath.Join(t.TempDir(), "sm")
		if _, err := sm.Init(ctx, dir, sm.Vending, false, sm.Options{DB: db, Officers: releaseOfficers()}); err != nil {
			t.Fatal(err)
		}
		// A development build opens a module no release has opened.
		m, err := openAs(t, dir, db, release.Devel, false)
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
		m, err = openAs(t, dir, db, "v1.3.0", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, rec := auditActions(t, m); rec.Action != "sm.version.raise" || rec.Details["to"] != "v1.3.0" {
			t.Fatalf("raise not audited: %+v", rec)
		}
		m.Close()

		for _, old := range []string{"v1.2.9", release.Devel} {
			_, err := openAs(t, dir, db, old, false)
			if !errors.Is(err, release.ErrRollback) || !strings.Contains(err.Error(), "v1.3.0") || !strings.Contains(err.Error(), old) {
				t.Fatalf("%s opened a module v1.3.0 had opened: %v", old, err)
			}
		}
		// The override: both officers unlock the store, the floor goes
		// down, and the log says who did it.
		m, err = openAs(t, dir, db, "v1.2.9", true)
		if err != nil {
			t.Fatal(err)
		}
		_, rec := auditActions(t, m)
		if rec.Action != "sm.version.downgrade" || rec.Details["from"] != "v1.3.0" || rec.Details["to"] != "v1.2.9" ||
			!strings.Contains(strings.Join(anyStrings(rec.Details["officers"]), ","), "alice") {
			t.Fatalf("downgrade not audited: %+v", rec)
		}
		m.Close()
		if _, err := openAs(t, dir, db, "v1.2.9", false); err != nil {
			t.Fatalf("after the downgrade: %v", err)
		}
	})
}

// versionRecord is an audit record of the version floor.
type versionRecord struct {
	Action  string
	Details map[string]any
}

func anyStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, s := range v {
			out = append(out, s.(string))
		}
	case []string:
		out = v
	}
	return out
}

func TestSelftestReportsRelease(t *testing.T) {
	eachFixture(t, sm.Vending, func(t *testing.T, f *fixture) {
		if rep := f.m.LastSelftest(); rep.Release != "unsigned development build" {
			t.Errorf("self-test says %q", rep.Release)
		}

		dir := t.TempDir()
		k, err := release.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		exe, manifest, pub := filepath.Join(dir, "stskms"), filepath.Join(dir, "MANIFEST"), filepath.Join(dir, "release.pub")
		if err := os.WriteFile(exe, []byte("a release binary"), 0o755); err != nil {
			t.Fatal(err)
		}
		sum, err := release.HashFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := release.Sign(release.Manifest{Version: "v2.0.0", Files: []release.File{{Name: "stskms", SHA256: sum}}}, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(manifest, signed, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pub, release.MarshalPublicKey(k.Public()), 0o644); err != nil {
			t.Fatal(err)
		}
		f.opts.Release = release.Policy{Manifest: manifest, PublicKey: pub, Version: "v2.0.0", Executable: exe, RequireSigned: true}
		f.reopen()
		rep, err := f.m.Selftest(f.ctx, auditor)
		if err != nil || !strings.HasPrefix(rep.Release, "signed release v2.0.0 ") || !f.m.Release().Signed {
			t.Errorf("self-test of a signed release: %q, %v", rep.Release, err)
		}
		f.m.Close()

		// Required but unsigned, or the binary changed: refused to start.
		f.opts.Release = release.Policy{RequireSigned: true}
		if _, err := sm.Open(f.ctx, f.dir, f.opts); !errors.Is(err, release.ErrUnsigned) {
			t.Errorf("unsigned, required: %v", err)
		}
		if err := os.WriteFile(exe, []byte("a patched binary"), 0o755); err != nil {
			t.Fatal(err)
		}
		f.opts.Release = release.Policy{Manifest: manifest, PublicKey: pub, Version: "v2.0.0", Executable: exe, RequireSigned: true}
		if _, err := sm.Open(f.ctx, f.dir, f.opts); !errors.Is(err, release.ErrUnsigned) || !strings.Contains(err.Error(), "does not list") {
			t.Errorf("patched binary, required: %v", err)
		}
	})
}
