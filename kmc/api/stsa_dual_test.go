package api_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// dualDo calls the API as the test officer with the second test
// officer's token in api.SecondOfficerHeader.
func (e *env) dualDo(method, path string, in, out any) error {
	return e.as("officer").Do(e.ctx, method, path, in, out, api.SecondOfficerHeader, e.as("officer2").Token)
}

// callPair calls the API as first, with the token of second in
// api.SecondOfficerHeader ("" sends no header, "junk" a token nobody has,
// "self" first's own token).
func (e *env) callPair(first, second, method, path string, in, out any) error {
	var h []string
	switch second {
	case "":
	case "self":
		h = []string{api.SecondOfficerHeader, e.client(first).Token}
	case "junk":
		h = []string{api.SecondOfficerHeader, "junk-token-0123456789abcdef"}
	default:
		h = []string{api.SecondOfficerHeader, e.client(second).Token}
	}
	return e.client(first).Do(e.ctx, method, path, in, out, h...)
}

// stsaActions counts the audit records of STS Association key changes.
func stsaActions(e *env) int {
	n := 0
	e.k.AuditLog().Records(e.ctx, 1, func(r audit.Record) error {
		if strings.HasPrefix(r.Action, "stsa.key.") {
			n++
		}
		return nil
	})
	return n
}

// TestSTSAKeyDualControl: setting or removing an STS Association key
// through the API takes two distinct registered officers — the caller
// and the one whose token is in api.SecondOfficerHeader. Without that
// header, with a token that is no officer's (junk, an operator's), with
// the caller's own token, the API refuses 403 ESecondOfficer; with an
// officer not registered with the KMC's custody, 403 EUnknownOfficer;
// and nothing changes. Two registered officers set and remove the key,
// audited as "officer:A+B".
func TestSTSAKeyDualControl(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startLive(t, db)
		_, pubPEM := stsaPEM(t)
		add := api.AddSTSAKeyRequest{PublicKey: pubPEM}
		refusals := []struct {
			name, second string
			code         kmc.Code
		}{
			{"no second officer", "", api.ESecondOfficer},
			{"a token nobody has", "junk", api.ESecondOfficer},
			{"an operator's token", "olga", api.ESecondOfficer},
			{"the caller's own token", "self", api.ESecondOfficer},
			{"an unregistered officer", "mallory", api.EUnknownOfficer},
		}
		for _, r := range refusals {
			err := e.callPair("test-officer-1", r.second, "POST", "/v1/stsa-keys", add, nil)
			refused(t, "set with "+r.name, err, http.StatusForbidden, r.code)
		}
		err := e.callPair("mallory", "test-officer-1", "POST", "/v1/stsa-keys", add, nil)
		refused(t, "set by an unregistered officer", err, http.StatusForbidden, api.EUnknownOfficer)
		if keys, err := e.k.STSAKeys(e.ctx); err != nil || len(keys) != 0 || stsaActions(e) != 0 {
			t.Fatalf("after the refusals: keys %v (%v), %d audit records", keys, err, stsaActions(e))
		}

		var key api.STSAKey
		if err := e.callPair("test-officer-1", "test-officer-2", "POST", "/v1/stsa-keys", add, &key); err != nil {
			t.Fatal(err)
		}
		if key.AddedBy != "officer:test-officer-1+test-officer-2" {
			t.Fatalf("added by %q", key.AddedBy)
		}
		path := "/v1/stsa-keys/" + key.ID
		for _, r := range refusals {
			err := e.callPair("test-officer-2", r.second, "DELETE", path, nil, nil)
			refused(t, "remove with "+r.name, err, http.StatusForbidden, r.code)
		}
		if keys, _ := e.k.STSAKeys(e.ctx); len(keys) != 1 || stsaActions(e) != 1 {
			t.Fatalf("after the refused removals: %d keys, %d audit records", len(keys), stsaActions(e))
		}
		if err := e.callPair("test-officer-2", "test-officer-1", "DELETE", path, nil, nil); err != nil {
			t.Fatal(err)
		}
		if got := actors(e)["stsa.key.remove"]; got != "officer:test-officer-2+test-officer-1" {
			t.Fatalf("stsa.key.remove by %q", got)
		}
	})
}

// TestSTSAKeyDualControlTestKMC: a test KMC registers no officers, so
// two distinct officer tokens suffice there; one officer alone, or the
// same twice, is still refused.
func TestSTSAKeyDualControlTestKMC(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		_, pubPEM := stsaPEM(t)
		add := api.AddSTSAKeyRequest{PublicKey: pubPEM}
		err := e.as("officer").Do(e.ctx, "POST", "/v1/stsa-keys", add, nil)
		refused(t, "one officer", err, http.StatusForbidden, api.ESecondOfficer)
		err = e.as("officer").Do(e.ctx, "POST", "/v1/stsa-keys", add, nil, api.SecondOfficerHeader, e.as("officer").Token)
		refused(t, "the same officer twice", err, http.StatusForbidden, api.ESecondOfficer)
		var se *api.StatusError
		if !errors.As(err, &se) || se.Body.Field != api.SecondOfficerHeader {
			t.Errorf("refusal names field %q, want %s", se.Body.Field, api.SecondOfficerHeader)
		}
		var key api.STSAKey
		if err := e.dualDo("POST", "/v1/stsa-keys", add, &key); err != nil || key.AddedBy != "officer:test-officer+test-officer-2" {
			t.Fatalf("added %+v, %v", key, err)
		}
	})
}
