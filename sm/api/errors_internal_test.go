package api

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/errwalk"
	"github.com/stskms/stskms/sm"
)

// smErrors is an error of each kind package sm exports, by qualified
// name.
var smErrors = map[string]error{
	"sm.ErrKeyType": sm.ErrKeyType, "sm.ErrVariant": sm.ErrVariant, "sm.ErrSlotState": sm.ErrSlotState,
	"sm.ErrNotPending": sm.ErrNotPending, "sm.ErrNoSlot": sm.ErrNoSlot, "sm.ErrSlotsFull": sm.ErrSlotsFull,
	"sm.ErrNoRegister": sm.ErrNoRegister, "sm.ErrRegistersFull": sm.ErrRegistersFull,
	"sm.ErrCreditLimit": sm.ErrCreditLimit, "sm.ErrKeyExpired": sm.ErrKeyExpired,
	"sm.ErrKMCKeyExpired": sm.ErrKMCKeyExpired, "sm.ErrAfterIUT": sm.ErrAfterIUT, "sm.ErrBeforeACT": sm.ErrBeforeACT,
	"sm.ErrTIDWindow": sm.ErrTIDWindow, "sm.ErrSubclass": sm.ErrSubclass, "sm.ErrFormat": sm.ErrFormat,
	"sm.ErrRange": sm.ErrRange, "sm.ErrMAC": sm.ErrMAC, "sm.ErrAttribute": sm.ErrAttribute,
	"sm.ErrSelfTest": sm.ErrSelfTest, "sm.ErrRole": sm.ErrRole, "sm.ErrLiveKMC": sm.ErrLiveKMC,
	"sm.ErrNotTestKMC": sm.ErrNotTestKMC, "sm.ErrFingerprint": sm.ErrFingerprint,
	"sm.ErrRequestReused": sm.ErrRequestReused, "sm.ErrRequestOwned": sm.ErrRequestOwned,
	"sm.ErrNoTables": sm.ErrNoTables, "sm.ErrIntegrity": sm.ErrIntegrity, "sm.ErrClosed": sm.ErrClosed,
	"sm.ErrModuleExists": sm.ErrModuleExists, "sm.ErrNoModule": sm.ErrNoModule, "sm.ErrIdentity": sm.ErrIdentity,
	"sm.ErrInvalidRequest": sm.ErrInvalidRequest, "sm.ErrNoRollback": sm.ErrNoRollback,
	"sm.Error": &sm.Error{Code: sm.CodeCreditLimit, Kind: sm.ErrCreditLimit, Detail: "100 left"},
}

// TestEveryErrorIsAnswered walks every exported error of packages sts,
// records and sm (found in their source, so that a new one cannot be
// forgotten) and shows that the API answers each, bare, wrapped or as the
// input error of a field, with a status other than 500.
func TestEveryErrorIsAnswered(t *testing.T) {
	samples := errwalk.Samples()
	maps.Copy(samples, smErrors)
	errwalk.Check(t, samples, "../../sts", "../../records", "..")
	var logged bytes.Buffer
	s := &Server{log: log.New(&logged, "", 0)}
	errwalk.CheckAnswered(t, samples, func(err error) errwalk.Answer { return answer(s.errorBody(err)) }, "meter.pan")
	if logged.Len() != 0 {
		t.Errorf("refusals were logged as internal errors: %s", logged.String())
	}
}

// TestInternalErrorRef: a genuine internal error is 500 without its
// words, and with a reference that the server's log line shows with them.
func TestInternalErrorRef(t *testing.T) {
	var logged bytes.Buffer
	s := &Server{log: log.New(&logged, "", 0)}
	errwalk.CheckInternal(t, func(err error) errwalk.Answer { return answer(s.errorBody(err)) }, string(sm.CodeExtended), &logged)
}

// answer is what the client is told in status and body.
func answer(status int, body ErrorBody) errwalk.Answer {
	return errwalk.Answer{Status: status, Code: string(body.Code), Field: body.Field, Ref: body.Ref, Text: body.Error}
}

// TestExplain: the console is told a refusal's status and words, and
// nothing of an internal error.
func TestExplain(t *testing.T) {
	if status, text := Explain(fmt.Errorf("slot: %w", sm.ErrRole)); status != http.StatusForbidden || !strings.Contains(text, "slot") {
		t.Errorf("role: %d %q", status, text)
	}
	if status, text := Explain(errors.New("disk on fire at /var/lib")); status != 0 || text != "" {
		t.Errorf("internal: %d %q", status, text)
	}
}
