package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// stsaPEM returns a fresh STS Association key and its public key as PEM.
func stsaPEM(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return priv, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// signedUpdate is update seq of s, certified, signed by priv.
func signedUpdate(t *testing.T, priv *ecdsa.PrivateKey, seq uint64, s *testSM) string {
	t.Helper()
	mod := records.SMRegModule{SMID: s.mod.PKID, PublicKey: s.mod.Key.PublicKey(), Model: "HW-SM-1", Firmware: "HWFW0001",
		Variant: string(kmc.Vending), Certified: true}
	bodies, err := records.SignSMRegUpdate(priv, seq, time.Now(), []records.SMRegModule{mod}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	file, err := armor.File(bodies...)
	if err != nil {
		t.Fatal(err)
	}
	return string(file)
}

// actors returns the actor of the first audit record of each action.
func actors(e *env) map[string]string {
	got := map[string]string{}
	e.k.AuditLog().Records(e.ctx, 1, func(r audit.Record) error {
		if _, ok := got[r.Action]; !ok {
			got[r.Action] = r.Actor
		}
		return nil
	})
	return got
}

func TestSTSAKeysAndRegistryUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeLive})
		s := newTestSM(t, "sts-test-sm", "94000001")
		priv, pubPEM := stsaPEM(t)
		update1 := signedUpdate(t, priv, 1, s)

		// No STSA key yet: no update is taken.
		err := e.as("operator").Do(e.ctx, "POST", "/v1/registry-updates", api.RegistryUpdateRequest{File: update1}, nil)
		refused(t, "update without a key", err, http.StatusConflict, kmc.ENotAvailable)

		err = e.dualDo("POST", "/v1/stsa-keys", api.AddSTSAKeyRequest{PublicKey: "not a key"}, nil)
		refused(t, "bad key", err, http.StatusBadRequest, api.EInvalid)
		var key, retried api.STSAKey
		add := api.AddSTSAKeyRequest{RequestID: "stsa-key-1", PublicKey: pubPEM}
		if err := e.dualDo("POST", "/v1/stsa-keys", add, &key); err != nil {
			t.Fatal(err)
		}
		if err := e.dualDo("POST", "/v1/stsa-keys", add, &retried); err != nil || retried != key {
			t.Fatalf("retry = %+v, %v, want %+v", retried, err, key)
		}
		id, err := records.STSAKeyID(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if key.ID != id.String() || len(key.PublicKey) != 194 || key.AddedBy != "officer:test-officer+test-officer-2" {
			t.Fatalf("added key = %+v", key)
		}
		err = e.dualDo("POST", "/v1/stsa-keys", api.AddSTSAKeyRequest{PublicKey: pubPEM}, nil)
		refused(t, "key again", err, http.StatusConflict, api.EExists)
		var keys api.STSAKeysAnswer
		e.do("auditor", "GET", "/v1/stsa-keys", nil, &keys)
		if len(keys.Keys) != 1 || keys.Keys[0] != key {
			t.Fatalf("keys = %+v, want %+v", keys, key)
		}

		// Refusals change nothing: another signer, a broken file.
		other, _ := stsaPEM(t)
		err = e.as("operator").Do(e.ctx, "POST", "/v1/registry-updates", api.RegistryUpdateRequest{File: signedUpdate(t, other, 1, s)}, nil)
		refused(t, "unknown signer", err, http.StatusUnprocessableEntity, kmc.ESmUpdateUnknownKey)
		err = e.as("operator").Do(e.ctx, "POST", "/v1/registry-updates", api.RegistryUpdateRequest{File: "junk"}, nil)
		refused(t, "junk", err, http.StatusUnprocessableEntity, kmc.ESmUpdateRecord)
		var sms api.SMsAnswer
		if e.do("auditor", "GET", "/v1/sms", nil, &sms); len(sms.SMs) != 0 {
			t.Fatalf("a refused update registered %+v", sms.SMs)
		}

		// Applied once; a retry under the same request id gets the same
		// answer, a second delivery without it is stale.
		var first, again api.RegistryUpdateAnswer
		req := api.RegistryUpdateRequest{RequestID: "stsa-mail-1", File: update1}
		e.do("operator", "POST", "/v1/registry-updates", req, &first)
		if first.Seq != 1 || first.Modules != 1 || first.Added != 1 || first.STSAKey != key.ID || first.Summary == "" {
			t.Fatalf("update = %+v", first)
		}
		e.do("operator", "POST", "/v1/registry-updates", req, &again)
		if again != first {
			t.Fatalf("retry = %+v, want %+v", again, first)
		}
		err = e.as("operator").Do(e.ctx, "POST", "/v1/registry-updates", api.RegistryUpdateRequest{File: update1}, nil)
		refused(t, "replayed update", err, http.StatusConflict, kmc.ESmUpdateStale)
		var m api.SM
		e.do("auditor", "GET", "/v1/sms/94000001", nil, &m)
		if !m.Certified || m.Virtual || m.Model != "HW-SM-1" {
			t.Fatalf("module after the update = %+v", m)
		}

		var removed api.RemoveSTSAKeyAnswer
		if err := e.dualDo("DELETE", "/v1/stsa-keys/"+key.ID, nil, &removed); err != nil {
			t.Fatal(err)
		}
		if !removed.Removed || removed.ID != key.ID {
			t.Fatalf("removed = %+v", removed)
		}
		err = e.dualDo("DELETE", "/v1/stsa-keys/"+key.ID, nil, nil)
		refused(t, "removed twice", err, http.StatusNotFound, api.ENotFound)

		want := map[string]string{"stsa.key.add": "officer:test-officer+test-officer-2", "stsa.key.remove": "officer:test-officer+test-officer-2",
			"sm.update": "operator:test-operator", "sm.update.refuse": "operator:test-operator"}
		got := actors(e)
		for action, actor := range want {
			if got[action] != actor {
				t.Errorf("audit %s by %q, want %q", action, got[action], actor)
			}
		}
	})
}

func TestPrune(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		s := newTestSM(t, "sts-test-sm", "94000001")
		e.world(s)
		text, _, _ := s.request(e, e.clock.Now().Add(-time.Minute))
		e.do("operator", "POST", "/v1/klfs", api.IssueRequest{Request: text}, nil)

		minAge := 2 * kmc.DefaultWindow
		for _, before := range []string{"", "soon", "-720h", (minAge - time.Second).String()} {
			err := e.as("operator").Do(e.ctx, "POST", "/v1/prune", api.PruneRequest{Before: before}, nil)
			refused(t, "prune "+before, err, http.StatusBadRequest, api.EInvalid)
		}
		var ans api.PruneAnswer
		e.do("operator", "POST", "/v1/prune", api.PruneRequest{Before: minAge.String()}, &ans)
		if ans.Requests != 0 || ans.MinAge != minAge.String() {
			t.Fatalf("prune of a fresh request = %+v", ans)
		}
		e.clock.Add(3 * kmc.DefaultWindow)
		e.do("operator", "POST", "/v1/prune", api.PruneRequest{Before: minAge.String()}, &ans)
		if ans.Requests != 1 || !ans.Cutoff.Equal(e.clock.Now().Add(-minAge)) {
			t.Fatalf("prune = %+v", ans)
		}
		if got := actors(e)["kmc.prune"]; got != "operator:test-operator" {
			t.Fatalf("kmc.prune by %q", got)
		}
	})
}
