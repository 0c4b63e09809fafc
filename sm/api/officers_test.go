package api_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
)

// productionOfficers are the officers of the production module of
// TestDualControlRegisteredOfficers.
func productionOfficers() []keystore.Component {
	return []keystore.Component{{Officer: "alice", Passphrase: []byte("correct horse battery")},
		{Officer: "bob", Passphrase: []byte("staple tuning fork")}}
}

// TestDualControlRegisteredOfficers: a production module whose officers
// are alice and bob refuses at start a token file with an officer token
// of mallory, naming her; and the dual-control routes refuse mallory as
// either officer (403), the same officer twice too, installing nothing;
// alice and bob install, and the audit log names them.
func TestDualControlRegisteredOfficers(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sm")
	if _, err := sm.Init(ctx, dir, sm.Vending, false, sm.Options{Officers: productionOfficers()}); err != nil {
		t.Fatal(err)
	}
	m, err := sm.Open(ctx, dir, sm.Options{Officers: productionOfficers()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e := &officerEnv{m: m, dir: dir, tokens: map[string]string{}}
	var entries []api.TokenEntry
	for _, name := range []string{"alice", "bob", "mallory"} {
		e.tokens[name] = "tok-" + name + "-0123456789abcdef"
		entries = append(entries, api.TokenEntry{Token: e.tokens[name], Role: "officer", Name: name})
	}
	tokens := writeTokens(t, dir, entries)
	officers, err := sm.DirOfficers(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = api.CheckOfficerTokens(tokens, officers)
	if err == nil || !strings.Contains(err.Error(), `"mallory"`) || strings.Contains(err.Error(), "tok-") {
		t.Errorf("CheckOfficerTokens = %v", err)
	}
	e.url = serve(t, nil, api.New(m, tokens))

	_, record := otherKMC(t)
	install := api.InstallRequest{Record: record, Fingerprint: records.Fingerprint(record).String(), TestKMC: true}
	before, err := m.Slots(ctx, sm.Officer.As("alice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"alice", "mallory"}, {"mallory", "bob"}, {"alice", "alice"}} {
		err := e.do(pair[0], pair[1], "POST", "/v1/slots", install, nil)
		wantStatus(t, err, http.StatusForbidden, sm.CodeExtended)
		if pair[0] != pair[1] && !strings.Contains(err.Error(), `"mallory" not an officer registered`) {
			t.Errorf("%v: %v", pair, err)
		}
	}
	if after, err := m.Slots(ctx, sm.Officer.As("alice")); err != nil || len(after) != len(before) {
		t.Fatalf("slots %d before the refusals, %d after (%v)", len(before), len(after), err)
	}
	var slot slotJSON
	if err := e.do("alice", "bob", "POST", "/v1/slots", install, &slot); err != nil {
		t.Fatal(err)
	}
	if slot.State != sm.SlotInstalled {
		t.Fatalf("installed %+v", slot)
	}
	if !auditedActor(t, m, "officer:alice+bob") {
		t.Error("the install is not audited as officer:alice+bob")
	}
}

// auditedActor reports whether m's audit log holds a record by actor.
func auditedActor(t *testing.T, m *sm.Module, actor string) bool {
	t.Helper()
	log, err := m.Audit(sm.Auditor.As("test"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	if err := log.Records(context.Background(), 1, func(r audit.Record) error {
		found = found || r.Actor == actor
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}
