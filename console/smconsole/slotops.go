package smconsole

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
)

//go:embed slotops.html
var slotOpsTemplate string

// slotOpsPage is the page of the module's KEK slots and their changes
// under dual control: deleting a slot takes two officers, one who
// proposes and another who approves (console.Action.Dual).
func slotOpsPage(m *sm.Module) console.Page {
	return console.Page{Path: "kekslots", Title: "KEK slots", Op: "slot.list", Template: slotOpsTemplate,
		Data: func(ctx context.Context, a role.Actor, _ console.Query) (any, error) { return m.Slots(ctx, a) },
		Actions: []console.Action{console.DualAction(m, "delete", "slot.delete", describeDelete, deleteSlot),
			console.DualAction(m, "install", "slot.install", describeInstall, installSlot)}}
}

// proposedSlot is the one slot number a proposal's form names.
func proposedSlot(c console.Call) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(c.Form.Get("slot")))
	if err != nil || len(c.Form["slot"]) != 1 {
		return 0, console.BadInput("slot", "one slot number")
	}
	return n, nil
}

// approvedSlot returns the two officers of an approved proposal acting
// together (sm.Module.DualControl), and the slot its parameters name.
func approvedSlot(m *sm.Module, c console.Call) (role.Actor, int, error) {
	a, err := m.DualControl(c.Actor, c.Approver)
	if err != nil {
		return a, 0, err
	}
	n, err := strconv.Atoi(c.Form.Get("slot"))
	if err != nil {
		return a, 0, console.BadInput("slot", "not a slot number")
	}
	return a, n, nil
}

// describeInstall is the installation a form asks for: the KMC's
// PK.ECDH.1 record, the fingerprint the officer typed from the KMC's
// publication (which must match the record's), the officer's declaration
// that the KMC is a test KMC, and the slot (0: the first free one).
func describeInstall(_ context.Context, _ *sm.Module, c console.Call) (console.Operation, error) {
	body := strings.TrimSpace(c.Form.Get("record"))
	p, err := records.ParsePKECDH(body)
	if err != nil {
		return console.Operation{}, console.BadInput("record", "not a PK.ECDH.1 record: "+err.Error())
	}
	fp := records.Fingerprint(body).String()
	if !strings.EqualFold(strings.TrimSpace(c.Form.Get("fingerprint")), fp) {
		return console.Operation{}, console.BadInput("fingerprint", "does not match the record's: check the fingerprint the KMC published")
	}
	slot := 0
	if text := strings.TrimSpace(c.Form.Get("slot")); text != "" {
		if slot, err = strconv.Atoi(text); err != nil || slot < 1 || slot > sm.MaxSlots {
			return console.Operation{}, console.BadInput("slot", fmt.Sprintf("a slot number, 1 to %d, or empty for the first free one", sm.MaxSlots))
		}
	}
	test := c.Form.Get("test_kmc") == "yes"
	where := "the first free KEK slot"
	if slot > 0 {
		where = fmt.Sprintf("KEK slot %d", slot)
	}
	words := fmt.Sprintf("Install the key of KMC %s (fingerprint %s, expires %s) into %s", p.KMCID, fp,
		p.Expiry.UTC().Format("2006-01-02 15:04:05 UTC"), where)
	if test {
		words += "; the officers declare it a test KMC"
	}
	return console.Operation{Kind: "sm.slot.install", Words: words + "; check the fingerprint with the KMC's publication",
		Params: map[string]string{"record": body, "fingerprint": fp, "test_kmc": strconv.FormatBool(test), "slot": strconv.Itoa(slot)}}, nil
}

// installSlot installs the KMC key of an approved proposal, by the two
// officers (sm.Module.DualControl).
func installSlot(ctx context.Context, m *sm.Module, c console.Call) (string, error) {
	a, slot, err := approvedSlot(m, c)
	if err != nil {
		return "", err
	}
	s, err := m.InstallSlot(ctx, a, sm.InstallRequest{Record: c.Form.Get("record"), Fingerprint: c.Form.Get("fingerprint"),
		TestKMC: c.Form.Get("test_kmc") == "true", Slot: slot})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("The key of KMC %s is installed in KEK slot %d.", s.KMCID, s.Number), nil
}

// slotOf returns slot n of m as a sees it, or an *InputError of field
// "slot".
func slotOf(ctx context.Context, m *sm.Module, a role.Actor, n int) (sm.Slot, error) {
	slots, err := m.Slots(ctx, a)
	if err != nil {
		return sm.Slot{}, err
	}
	for _, s := range slots {
		if s.Number == n {
			return s, nil
		}
	}
	return sm.Slot{}, console.BadInput("slot", fmt.Sprintf("slot %d holds no KMC key", n))
}

// describeDelete is the deletion a form asks for: the slot and the key it
// holds, so that an approval does not delete another key put there since.
func describeDelete(ctx context.Context, m *sm.Module, c console.Call) (console.Operation, error) {
	n, err := proposedSlot(c)
	if err != nil {
		return console.Operation{}, err
	}
	s, err := slotOf(ctx, m, c.Actor, n)
	if err != nil {
		return console.Operation{}, err
	}
	return console.Operation{Kind: "sm.slot.delete",
		Params: map[string]string{"slot": strconv.Itoa(n), "kmcid": s.KMCID.String(), "fingerprint": s.Fingerprint.String()},
		Words: fmt.Sprintf("Delete KEK slot %d: the key of KMC %s (fingerprint %s, %s); the module can no longer load Key Load Files of that key",
			n, s.KMCID, s.Fingerprint, s.State)}, nil
}

// deleteSlot deletes the slot of an approved proposal, by the two
// officers (sm.Module.DualControl), if it still holds the key proposed.
func deleteSlot(ctx context.Context, m *sm.Module, c console.Call) (string, error) {
	a, n, err := approvedSlot(m, c)
	if err != nil {
		return "", err
	}
	s, err := slotOf(ctx, m, a, n)
	if err != nil {
		return "", err
	}
	if s.Fingerprint.String() != c.Form.Get("fingerprint") {
		return "", console.BadInput("slot", "the slot holds another key since the proposal; propose again")
	}
	if err := m.DeleteSlot(ctx, a, n); err != nil {
		return "", err
	}
	return fmt.Sprintf("KEK slot %d deleted (the key of KMC %s).", n, s.KMCID), nil
}
