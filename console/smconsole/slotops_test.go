package smconsole

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
)

// TestSlotOpsDualControl: installing a KMC key and deleting a KEK slot
// from the console describe the operation canonically (the record and its
// checked fingerprint; the slot and the key it holds), refuse bad values
// naming the field, and when approved run only for two different officers
// (sm.Module.DualControl), audited as "officer:A+B"; an approval for a
// slot that holds another key by then is refused.
func TestSlotOpsDualControl(t *testing.T) {
	ctx := context.Background()
	m, _ := consoletest.Module(t)
	alice, bob := sm.Officer.As("alice"), sm.Officer.As("bob")
	key, err := keyagree.TestKey("sts-test-kmc")
	if err != nil {
		t.Fatal(err)
	}
	kmcid, _ := records.NewPKID(records.KMCID, "TestKMC", "K0001", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), key.PublicKey())
	body, _ := (&records.PKECDH{KMCID: kmcid, PublicKey: key.PublicKey(), Expiry: time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)}).Format()
	fp := records.Fingerprint(body).String()
	del, inst := slotOpsPage(m).Actions[0], slotOpsPage(m).Actions[1]
	var ie *console.InputError
	for field, bad := range map[string]url.Values{"record": {"record": {"PK.ECDH.1 nonsense"}, "fingerprint": {fp}},
		"fingerprint": {"record": {body}, "fingerprint": {"0011223344556677"}},
		"slot":        {"record": {body}, "fingerprint": {fp}, "slot": {"17"}}} {
		if _, err := inst.Describe(ctx, console.Call{Actor: alice, Form: bad}); !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("install with a bad %s: %v", field, err)
		}
	}
	o, err := inst.Describe(ctx, console.Call{Actor: alice, Form: url.Values{"record": {" " + body + "\n"}, "fingerprint": {strings.ToLower(fp)}, "test_kmc": {"yes"}}})
	if err != nil || o.Params["record"] != body || o.Params["test_kmc"] != "true" || o.Params["slot"] != "0" {
		t.Fatalf("describe install: %+v, %v", o, err)
	}
	if _, err := inst.Do(ctx, consoletest.Approval(o, alice, alice)); !errors.Is(err, sm.ErrRole) {
		t.Errorf("alice approving her own installation: %v, want sm.ErrRole", err)
	}
	if done, err := inst.Do(ctx, consoletest.Approval(o, alice, bob)); err != nil || !strings.Contains(done, "slot 1") {
		t.Fatalf("installation: %q, %v", done, err)
	}
	slots, err := m.Slots(ctx, alice)
	if err != nil || len(slots) != 1 {
		t.Fatalf("slots %v, %v", slots, err)
	}
	slot := slots[0]
	for _, bad := range []url.Values{{}, {"slot": {"x"}}, {"slot": {"9"}}} {
		if _, err := del.Describe(ctx, console.Call{Actor: alice, Form: bad}); !errors.As(err, &ie) || ie.Field != "slot" {
			t.Errorf("describe %v: %v", bad, err)
		}
	}
	o, err = del.Describe(ctx, console.Call{Actor: alice, Form: url.Values{"slot": {"1"}}})
	if err != nil || o.Params["fingerprint"] != slot.Fingerprint.String() || !strings.Contains(o.Words, "slot 1") {
		t.Fatalf("describe: %+v, %v", o, err)
	}
	if _, err := del.Do(ctx, consoletest.Approval(o, alice, alice)); !errors.Is(err, sm.ErrRole) {
		t.Errorf("alice approving her own deletion: %v, want sm.ErrRole", err)
	}
	if _, err := del.Do(ctx, consoletest.Approval(o, alice, sm.Auditor.As("carol"))); !errors.Is(err, sm.ErrRole) {
		t.Errorf("an auditor's approval: %v, want sm.ErrRole", err)
	}
	stale := url.Values{"slot": {"1"}, "fingerprint": {"0000000000000000"}}
	if _, err := del.Do(ctx, console.Call{Actor: alice, Approver: bob, Form: stale}); !errors.As(err, &ie) {
		t.Errorf("a stale deletion: %v", err)
	}
	if done, err := del.Do(ctx, consoletest.Approval(o, alice, bob)); err != nil || !strings.Contains(done, "slot 1 deleted") {
		t.Fatalf("deletion: %q, %v", done, err)
	}
	if slots, _ := m.Slots(ctx, alice); len(slots) != 0 {
		t.Errorf("slots after deletion: %v", slots)
	}
	l, err := m.Audit(sm.Auditor.As("carol"))
	if err != nil {
		t.Fatal(err)
	}
	actors := consoletest.Actors(t, l, "slot.install", "slot.delete")
	if len(actors) != 2 || actors[0] != "officer:alice+bob" || actors[1] != "officer:alice+bob" {
		t.Errorf("slot.install and slot.delete audited as %v", actors)
	}
}
