package smconsole

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/console/internal/consoletest"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
)

// waitingModule is a test module whose KEK slot 1 holds the test KMC's
// key and waits for the Key Load File of its request, and that KMC.
func waitingModule(t *testing.T) (*sm.Module, apitest.KMC, *records.VKLoadReq) {
	t.Helper()
	m, _ := consoletest.ModuleBy(t, apitest.New)
	kmc, slot, req, err := apitest.Waiting(context.Background(), m)
	if err != nil || slot != 1 {
		t.Fatalf("slot %d, %v", slot, err)
	}
	return m, kmc, req
}

// klfFile is apitest.KeyLoadFile, or the test's end.
func klfFile(t *testing.T, kmc apitest.KMC, req *records.VKLoadReq, sgc, n int) string {
	t.Helper()
	file, err := apitest.KeyLoadFile(kmc, req, sgc, n)
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// TestKLFLoadDualControl: loading a Key Load File from the console
// describes the load canonically (the slot, its key's fingerprint, the
// request it waits on, the file kept as the proposal's attachment, words
// naming every key by its clear attributes and KCV), refuses a bad slot
// or file naming the field — a file for another module or request, or
// cut short — and when approved loads the file only for two different
// officers (sm.Module.DualControl), audited "officer:A+B"; an approval
// after the slot changed is refused. A file of 25 keys fits the console's
// body limit.
func TestKLFLoadDualControl(t *testing.T) {
	ctx := context.Background()
	m, kmc, first := waitingModule(t)
	old := klfFile(t, kmc, first, 1, 1)
	req, err := m.Request(ctx, officer, 1)
	if err != nil {
		t.Fatal(err)
	}
	file := klfFile(t, kmc, req, 100001, 25)
	_, _, elsewhere := waitingModule(t)
	form := url.Values{"csrf": {strings.Repeat("x", 43)}, "slot": {"1"}, "klf": {file}}
	if n := len(form.Encode()); n > console.MaxBody/4 {
		t.Errorf("the form of a 25-key Key Load File is %d bytes; the console takes %d", n, console.MaxBody)
	} else {
		t.Logf("the form of a 25-key Key Load File is %d bytes; the console takes %d", n, console.MaxBody)
	}
	load := klfLoadPage(m).Actions[0]
	lines := strings.Split(file, "\r\n")
	cut := strings.Join(append(lines[:1:1], lines[len(lines)/2:]...), "\r\n")
	bad := map[string]url.Values{
		"slot": {"klf": {file}},
		"klf":  {"slot": {"1"}, "klf": {"STS:VK.1 BEGINS\r\nnonsense\r\n"}}}
	for _, v := range []url.Values{{"slot": {"x"}, "klf": {file}}, {"slot": {"9"}, "klf": {file}}} {
		bad["slot "+v.Get("slot")] = v
	}
	bad["klf of another module"] = url.Values{"slot": {"1"}, "klf": {klfFile(t, kmc, elsewhere, 1, 1)}}
	bad["klf of an earlier request"] = url.Values{"slot": {"1"}, "klf": {old}}
	bad["klf cut short"] = url.Values{"slot": {"1"}, "klf": {cut}}
	var ie *console.InputError
	for name, v := range bad {
		field, _, _ := strings.Cut(name, " ")
		if _, err := load.Describe(ctx, console.Call{Actor: officer, Form: v}); !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("describe, %s: %v, want an input error of %q", name, err, field)
		}
	}
	o, err := load.Describe(ctx, console.Call{Actor: officer, Form: url.Values{"slot": {"1"}, "klf": {file}}})
	if err != nil {
		t.Fatal(err)
	}
	slot, _ := slotOf(ctx, m, officer, 1)
	if string(o.Attachment) != file || o.Params["slot"] != "1" || o.Params["fingerprint"] != slot.Fingerprint.String() ||
		o.Params["t_req"] != stamp(slot.RequestTime) || o.Params["keys"] != "25" || o.Params[console.AttachmentParam] != "" {
		t.Errorf("operation %+v", o.Params)
	}
	for _, want := range []string{"KEK slot 1", "25 keys", "SGC 100001 KRN 1 KT 2 (KCV ", "SGC 100025 KRN 1 KT 2"} {
		if !strings.Contains(o.Words, want) {
			t.Errorf("words lack %q: %s", want, o.Words)
		}
	}
	approved := func(approver sm.Actor, params map[string]string) console.Call {
		return consoletest.Approval(console.Operation{Params: params, Attachment: []byte(file)}, officer, approver)
	}
	for name, a := range map[string]sm.Actor{"her own": officer, "an auditor's": auditor} {
		if _, err := load.Do(ctx, approved(a, o.Params)); !errors.Is(err, sm.ErrRole) {
			t.Errorf("%s approval: %v, want sm.ErrRole", name, err)
		}
	}
	stale := map[string]string{"slot": "1", "fingerprint": o.Params["fingerprint"], "t_req": "2020-01-01 00:00:00 UTC"}
	if _, err := load.Do(ctx, approved(sm.Officer.As("bob"), stale)); !errors.As(err, &ie) || ie.Field != "slot" {
		t.Errorf("an approval for another request: %v", err)
	}
	if regs, _ := m.Registers(ctx, officer); len(regs) != 0 {
		t.Fatalf("refused loads loaded %d registers", len(regs))
	}
	done, err := load.Do(ctx, approved(sm.Officer.As("bob"), o.Params))
	if err != nil || !strings.Contains(done, "25 registers") {
		t.Fatalf("load: %q, %v", done, err)
	}
	if _, err := load.Do(ctx, approved(sm.Officer.As("bob"), o.Params)); !errors.As(err, &ie) || ie.Field != "slot" {
		t.Errorf("the same load again: %v", err)
	}
	l, err := m.Audit(auditor)
	if err != nil {
		t.Fatal(err)
	}
	actors := consoletest.Actors(t, l, "klf.load")
	if len(actors) != 1 || actors[0] != "officer:alice+bob" {
		t.Errorf("klf.load audited as %v", actors)
	}
}
