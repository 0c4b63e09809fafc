package smconsole

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
)

//go:embed klfload.html
var klfLoadTemplate string

// klfLoadPage is the page that loads a Key Load File into a KEK slot
// waiting for one, under dual control: one officer pastes the file and
// proposes the load, a different officer approves it
// (console.Action.Dual). The file is no secret — every key in it is
// wrapped under the slot's KEK (docs/formats.md, "Key agreement") — so it
// is kept with the proposal (console.Operation.Attachment) and its
// SHA-256 is part of what both officers sign.
func klfLoadPage(m *sm.Module) console.Page {
	return console.Page{Path: "klfload", Title: "Load a Key Load File", Op: "slot.list", Template: klfLoadTemplate,
		Data:    func(ctx context.Context, a role.Actor, _ console.Query) (any, error) { return waitingSlots(ctx, m, a) },
		Actions: []console.Action{console.DualAction(m, "load", "slot.load", describeLoad, loadKLF)}}
}

// waitingSlots are the KEK slots that wait for a Key Load File (LOADING).
func waitingSlots(ctx context.Context, m *sm.Module, a role.Actor) ([]sm.Slot, error) {
	slots, err := m.Slots(ctx, a)
	if err != nil {
		return nil, err
	}
	var out []sm.Slot
	for _, s := range slots {
		if s.State == sm.SlotLoading {
			out = append(out, s)
		}
	}
	return out, nil
}

// klfSummary is what a Key Load File says in clear: its header and the
// attributes and KCVs of its keys (never a key: they are wrapped).
type klfSummary struct {
	header *records.KLFHeader
	keys   []*records.VK
}

// readKLF reads the clear attributes of a Key Load File as a person
// pasted it: a file of records or a mail body holding them. It checks
// the structure only; the module checks the MAC, wraps and KCVs when it
// loads the file.
func readKLF(text string) (klfSummary, error) {
	bad := func(problem string) (klfSummary, error) { return klfSummary{}, console.BadInput("klf", problem) }
	bodies, err := sm.KLFBodies([]byte(text))
	if err != nil {
		return bad("not a Key Load File: " + err.Error())
	}
	if len(bodies) < 3 {
		return bad(fmt.Sprintf("%d records; a Key Load File is KLF.HDR.1, at least one VK.1 and KLF.END.1", len(bodies)))
	}
	var s klfSummary
	if s.header, err = records.ParseKLFHeader(bodies[0]); err != nil {
		return bad("its first record: " + err.Error())
	}
	for i, b := range bodies[1 : len(bodies)-1] {
		k, err := records.ParseVK(b)
		if err != nil {
			return bad(fmt.Sprintf("record %d: %v", i+2, err))
		}
		s.keys = append(s.keys, k)
	}
	if _, err := records.ParseKLFEnd(bodies[len(bodies)-1]); err != nil {
		return bad("its last record: " + err.Error())
	}
	if s.header.Count != len(s.keys) {
		return bad(fmt.Sprintf("the header counts %d keys, the file holds %d", s.header.Count, len(s.keys)))
	}
	return s, nil
}

// keyWords names the keys of a file for people: supply group, key
// revision, key type and KCV of each.
func (s klfSummary) keyWords() string {
	words := make([]string, len(s.keys))
	for i, k := range s.keys {
		words[i] = fmt.Sprintf("SGC %06d KRN %d KT %d (KCV %X)", k.SGC, k.KRN, k.KT, k.KCV)
	}
	return strings.Join(words, ", ")
}

// loadingSlot returns slot n of m as a sees it if it waits for a Key Load
// File, or an *InputError of field "slot".
func loadingSlot(ctx context.Context, m *sm.Module, a role.Actor, n int) (sm.Slot, error) {
	s, err := slotOf(ctx, m, a, n)
	if err == nil && s.State != sm.SlotLoading {
		err = console.BadInput("slot", fmt.Sprintf("slot %d is %s: it waits for no Key Load File (make a request first)", n, s.State))
	}
	return s, err
}

// describeLoad is the load a form asks for: the slot, the key it holds
// and the request it waits on, and the file (kept with the proposal, its
// SHA-256 signed), which must answer that request of that KMC for this
// module; the words list the file's keys by their clear attributes.
func describeLoad(ctx context.Context, m *sm.Module, c console.Call) (console.Operation, error) {
	n, err := proposedSlot(c)
	if err != nil {
		return console.Operation{}, err
	}
	s, err := loadingSlot(ctx, m, c.Actor, n)
	if err != nil {
		return console.Operation{}, err
	}
	text := c.Form.Get("klf")
	f, err := readKLF(text)
	if err != nil {
		return console.Operation{}, err
	}
	switch smid := m.Identify().SMID; {
	case f.header.SMID.String() != smid.String():
		return console.Operation{}, console.BadInput("klf", fmt.Sprintf("the file is for module %s, not this one (%s)", f.header.SMID, smid))
	case f.header.KMCID.String() != s.KMCID.String():
		return console.Operation{}, console.BadInput("klf", fmt.Sprintf("the file is from KMC %s; slot %d holds the key of %s", f.header.KMCID, n, s.KMCID))
	case !f.header.RequestTime.Equal(s.RequestTime):
		return console.Operation{}, console.BadInput("klf", fmt.Sprintf("the file answers the request of %s; slot %d waits for the one of %s",
			stamp(f.header.RequestTime), n, stamp(s.RequestTime)))
	}
	return console.Operation{Kind: "sm.slot.load", Attachment: []byte(text),
		Params: map[string]string{"slot": strconv.Itoa(n), "fingerprint": s.Fingerprint.String(), "t_req": stamp(s.RequestTime),
			"keys": strconv.Itoa(len(f.keys))},
		Words: fmt.Sprintf("Load a Key Load File of KMC %s (fingerprint %s, issued %s) into KEK slot %d, answering its request of %s: %d keys: %s",
			s.KMCID, s.Fingerprint, stamp(f.header.IssueTime), n, stamp(s.RequestTime), len(f.keys), f.keyWords())}, nil
}

// stamp is a time as the operation's parameters and words give it.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// loadKLF loads the file of an approved proposal, by the two officers
// (sm.Module.DualControl), if the slot still holds the key and waits on
// the request proposed; the module checks the file itself (its MAC, key
// wraps and KCVs) and loads all of it or nothing.
func loadKLF(ctx context.Context, m *sm.Module, c console.Call) (string, error) {
	a, n, err := approvedSlot(m, c)
	if err != nil {
		return "", err
	}
	s, err := loadingSlot(ctx, m, a, n)
	if err != nil {
		return "", err
	}
	if s.Fingerprint.String() != c.Form.Get("fingerprint") || stamp(s.RequestTime) != c.Form.Get("t_req") {
		return "", console.BadInput("slot", "the slot holds another key or waits on another request since the proposal; propose again")
	}
	if c.Attachment == nil {
		return "", console.BadInput("klf", "no Key Load File kept with the proposal")
	}
	bodies, err := sm.KLFBodies(c.Attachment)
	if err != nil {
		return "", err
	}
	regs, err := m.LoadKLF(ctx, a, n, bodies)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("The Key Load File of KEK slot %d is loaded: %d registers.", n, len(regs)), nil
}
