package api_test

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestRequestIDBelongsToCaller: another caller who gives a request id is
// refused (409 ERequestOwned) and creates nothing; the owner's retry is
// answered and audited with the caller; a header that contradicts the
// body's request_id is 400 naming the member.
func TestRequestIDBelongsToCaller(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "g"}, nil)
		gen := api.GenerateRequest{VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK"}}
		var first, again api.VendingKey
		if err := e.as("officer").Do(e.ctx, "POST", "/v1/vending-keys", gen, &first, "Idempotency-Key", "vk-1"); err != nil {
			t.Fatal(err)
		}
		for _, g := range []api.GenerateRequest{gen, {VKAttributes: api.VKAttributes{SGC: 123456, Type: "VCDK"}}} {
			err := e.as("officer2").Do(e.ctx, "POST", "/v1/vending-keys", g, nil, "Idempotency-Key", "vk-1")
			refusedField(t, "another officer's request id", err, http.StatusConflict, api.ERequestOwned, "request_id")
		}
		var vks api.VendingKeysAnswer
		e.do("auditor", "GET", "/v1/vending-keys", nil, &vks)
		if len(vks.VendingKeys) != 1 {
			t.Fatalf("%d vending keys; want 1", len(vks.VendingKeys))
		}
		gen.RequestID = "vk-1"
		if err := e.as("officer").Do(e.ctx, "POST", "/v1/vending-keys", gen, &again); err != nil || again != first {
			t.Fatalf("the owner's retry: %+v, %v; first %+v", again, err, first)
		}
		var replays []audit.Record
		e.k.AuditLog().Records(e.ctx, 1, func(r audit.Record) error {
			if r.Action == "api.replay" {
				replays = append(replays, r)
			}
			return nil
		})
		if len(replays) != 1 || replays[0].Actor != "officer:test-officer" || replays[0].Subject != "vk-1" {
			t.Fatalf("replay records %+v; want one of officer:test-officer", replays)
		}

		err := e.as("officer").Do(e.ctx, "POST", "/v1/vending-keys", gen, nil, "Idempotency-Key", "vk-2")
		se := refusedField(t, "header and body differ", err, http.StatusBadRequest, api.EBadRequest, "request_id")
		if !strings.Contains(se.Body.Error, `"vk-1"`) || !strings.Contains(se.Body.Error, `"vk-2"`) {
			t.Errorf("the refusal does not name both ids: %q", se.Body.Error)
		}
		gen.RequestID = "bad id"
		err = e.as("officer").Do(e.ctx, "POST", "/v1/vending-keys", gen, nil)
		refusedField(t, "request id with a space", err, http.StatusBadRequest, api.EInvalid, "request_id")
	})
}

// refusedField is refused, checking the field the refusal names too.
func refusedField(t *testing.T, what string, err error, status int, code kmc.Code, field string) *api.StatusError {
	t.Helper()
	refused(t, what, err, status, code)
	se := err.(*api.StatusError)
	if se.Body.Field != field {
		t.Fatalf("%s: field %q, want %q (%s)", what, se.Body.Field, field, se.Body.Error)
	}
	return se
}

// TestStateInStore: a pending dual-control import and a remembered answer
// live in the database: a restarted server (a new KMC and API on the same
// database) and a second node (another connection to it) see them. The
// components are stored sealed, never in clear; both expire as before.
func TestStateInStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		var sg api.SupplyGroup
		add := api.AddSupplyGroupRequest{RequestID: "sg-1", SGC: 123456, Name: "g"}
		e.do("operator", "POST", "/v1/supply-groups", add, &sg)
		c1, v1 := component(t, 20, 0x11)
		c2, _ := component(t, 20, 0xA7)
		attrs := api.VKAttributes{SGC: 123456, Type: "VCDK"}
		var imp api.ImportAnswer
		e.do("officer", "POST", "/v1/vending-keys/imports", api.StartImportRequest{VKAttributes: attrs, Component: c1}, &imp)

		rows, err := db.Query(e.ctx, `SELECT officer, kcv, sealed FROM vk_import_components`)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var officer, kcv string
			var sealed []byte
			if err := rows.Scan(&officer, &kcv, &sealed); err != nil {
				t.Fatal(err)
			}
			n++
			if bytes.Contains(sealed, v1) || strings.Contains(strings.ToLower(string(sealed)+officer+kcv), hex.EncodeToString(v1)) {
				t.Fatal("a component is stored in clear")
			}
		}
		rows.Close()
		if n != 1 {
			t.Fatalf("%d components stored; want 1", n)
		}

		restarted := e.peer(db)
		node2 := e.peer(storetest.Reopen(t, db))
		var list api.ImportsAnswer
		node2.do("officer", "GET", "/v1/vending-keys/imports", nil, &list)
		if len(list.Imports) != 1 || list.Imports[0].ID != imp.ID {
			t.Fatalf("the second node sees imports %+v", list)
		}
		var again api.SupplyGroup
		restarted.do("operator", "POST", "/v1/supply-groups", add, &again)
		if again != sg {
			t.Fatalf("the restarted server answered %+v; first %+v", again, sg)
		}
		node2.do("operator", "POST", "/v1/supply-groups", add, &again)
		if again != sg {
			t.Fatalf("the second node answered %+v; first %+v", again, sg)
		}
		gen := api.GenerateRequest{RequestID: "vk-9", VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK"}}
		restarted.do("officer", "POST", "/v1/vending-keys", gen, nil)
		err = node2.as("officer2").Do(e.ctx, "POST", "/v1/vending-keys", gen, nil)
		refused(t, "another caller on the second node", err, http.StatusConflict, api.ERequestOwned)

		var done api.ImportAnswer
		restarted.do("officer2", "POST", "/v1/vending-keys/imports/"+imp.ID+"/components", api.ComponentRequest{Component: c2}, &done)
		if done.State != "complete" || done.Key == nil {
			t.Fatalf("import completed on the restarted server: %+v", done)
		}
		var left int
		if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM vk_import_components`).Scan(&left); err != nil || left != 0 {
			t.Fatalf("%d components left after completion (%v)", left, err)
		}

		// Both expire: the import after ImportLifetime, the answer after a
		// day (the id is then free for another request).
		node2.do("officer", "POST", "/v1/vending-keys/imports", api.StartImportRequest{VKAttributes: attrs, Component: c1}, &imp)
		e.clock.Add(25 * 3600e9)
		restarted.do("officer", "GET", "/v1/vending-keys/imports", nil, &list)
		if len(list.Imports) != 0 {
			t.Fatalf("imports after expiry: %+v", list)
		}
		if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM vk_import_components`).Scan(&left); err != nil || left != 0 {
			t.Fatalf("%d components left after expiry (%v)", left, err)
		}
		add.SGC, add.Name = 123457, "h"
		restarted.do("operator", "POST", "/v1/supply-groups", add, nil)
	})
}

// TestConcurrentRetries: calls with one request id at once, on two nodes,
// make one object and all get its answer.
func TestConcurrentRetries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		e.do("operator", "POST", "/v1/supply-groups", api.AddSupplyGroupRequest{SGC: 123456, Name: "g"}, nil)
		node2 := e.peer(storetest.Reopen(t, db))
		gen := api.GenerateRequest{RequestID: "vk-c", VKAttributes: api.VKAttributes{SGC: 123456, Type: "VUDK"}}
		keys := make([]api.VendingKey, 8)
		errs := make([]error, len(keys))
		var wg sync.WaitGroup
		for i := range keys {
			n := []*env{e, node2}[i%2]
			wg.Go(func() { errs[i] = n.as("officer").Do(e.ctx, "POST", "/v1/vending-keys", gen, &keys[i]) })
		}
		wg.Wait()
		for i := range keys {
			if errs[i] != nil || keys[i] != keys[0] {
				t.Fatalf("call %d: %+v, %v; first %+v", i, keys[i], errs[i], keys[0])
			}
		}
		var vks api.VendingKeysAnswer
		e.do("auditor", "GET", "/v1/vending-keys", nil, &vks)
		if len(vks.VendingKeys) != 1 {
			t.Fatalf("%d vending keys made", len(vks.VendingKeys))
		}
	})
}
