package api

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/errwalk"
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sts"
)

// stsErrors and recordErrors are a sample of each exported error of
// packages sts and records, by qualified name (shared with the KMC API's
// test through copy: each API maps them itself).
var stsErrors = map[string]error{
	"sts.ErrFormat": sts.ErrFormat, "sts.ErrCRC": sts.ErrCRC, "sts.ErrReserved": sts.ErrReserved,
	"sts.ErrRange": sts.ErrRange, "sts.ErrNoKey": sts.ErrNoKey, "sts.ErrKey": sts.ErrKey,
	"sts.ErrCheckDigit": sts.ErrCheckDigit, "sts.ErrBeforeBaseDate": sts.ErrBeforeBaseDate,
	"sts.ErrTIDRollover": sts.ErrTIDRollover, "sts.ErrAmountTooLarge": sts.ErrAmountTooLarge,
	"sts.DigitsError": &sts.DigitsError{Field: "PAN", Rule: "18 decimal digits", Value: "12"},
}

var recordsErrors = map[string]error{
	"records.ErrUnknownType": records.ErrUnknownType, "records.ErrFieldCount": records.ErrFieldCount,
	"records.ErrIdent": records.ErrIdent, "records.ErrTime": records.ErrTime, "records.ErrHex": records.ErrHex,
	"records.ErrLowerHex": records.ErrLowerHex, "records.ErrLength": records.ErrLength,
	"records.ErrPoint": records.ErrPoint, "records.ErrDecimal": records.ErrDecimal,
	"records.ErrRange": records.ErrRange, "records.ErrChoice": records.ErrChoice, "records.ErrCRC": records.ErrCRC,
	"records.ErrPKIDType": records.ErrPKIDType, "records.ErrKeyHash": records.ErrKeyHash,
	"records.ErrValue": records.ErrValue, "records.ErrSpec": records.ErrSpec,
	"records.ErrStructure": records.ErrStructure, "records.ErrDuplicate": records.ErrDuplicate,
	"records.ErrSignature": records.ErrSignature,
	"records.FieldError":   &records.FieldError{Record: "VKLOAD.REQ.1", Field: "smid", Err: records.ErrIdent},
	"records.CRCError":     &records.CRCError{Record: "VKLOAD.REQ.1", Field: "crc", Printed: 1, Computed: 2},
	"records.UpdateError":  &records.UpdateError{Index: 2, Err: records.ErrSignature},
}

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
	"sm.ErrInvalidRequest": sm.ErrInvalidRequest,
	"sm.Error":             &sm.Error{Code: sm.CodeCreditLimit, Kind: sm.ErrCreditLimit, Detail: "100 left"},
}

// walked returns the exported errors of the packages in dirs (by their
// source, see errwalk), qualified with the directory's base name.
func walked(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, d := range dirs {
		names, err := errwalk.Exported(d)
		if err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatal(err)
		}
		pkg := filepath.Base(abs)
		for _, n := range names {
			out = append(out, pkg+"."+n)
		}
	}
	slices.Sort(out)
	return out
}

// checkSamples fails if the samples do not cover exactly the errors found
// in the source.
func checkSamples(t *testing.T, found []string, samples map[string]error) {
	t.Helper()
	for _, n := range found {
		if samples[n] == nil {
			t.Errorf("%s has no sample: add it, and map it to a 4xx/503 status", n)
		}
	}
	for n := range samples {
		if !slices.Contains(found, n) {
			t.Errorf("sample %s is not an exported error any more", n)
		}
	}
}

// TestEveryErrorIsAnswered walks every exported error of packages sts,
// records and sm (found in their source, so that a new one cannot be
// forgotten) and shows that the API answers each, bare, wrapped or as the
// input error of a field, with a status other than 500.
func TestEveryErrorIsAnswered(t *testing.T) {
	found := walked(t, "../../sts", "../../records", "..")
	samples := map[string]error{}
	for _, m := range []map[string]error{stsErrors, recordsErrors, smErrors} {
		for n, e := range m {
			samples[n] = e
		}
	}
	checkSamples(t, found, samples)
	var logged bytes.Buffer
	s := &Server{log: log.New(&logged, "", 0)}
	for n, e := range samples {
		for _, err := range []error{e, fmt.Errorf("context: %w", e)} {
			status, body := s.errorBody(err)
			if status == http.StatusInternalServerError || status < 400 || body.Code == "" || body.Ref != "" {
				t.Errorf("%s: %d %+v", n, status, body)
			}
		}
		status, body := s.errorBody(httpapi.FieldError("meter.pan", e))
		if status != http.StatusBadRequest || body.Field != "meter.pan" {
			t.Errorf("%s as the error of a field: %d %+v", n, status, body)
		}
	}
	if logged.Len() != 0 {
		t.Errorf("refusals were logged as internal errors: %s", logged.String())
	}
}

// TestInternalErrorRef: a genuine internal error is 500 without its
// words, and with a reference that the server's log line shows with them.
func TestInternalErrorRef(t *testing.T) {
	var logged bytes.Buffer
	s := &Server{log: log.New(&logged, "", 0)}
	status, body := s.errorBody(errors.New("database at /secret/path is gone"))
	if status != http.StatusInternalServerError || body.Code != sm.CodeExtended || len(body.Ref) != 16 ||
		strings.Contains(body.Error, "secret") {
		t.Fatalf("internal error: %d %+v", status, body)
	}
	if line := logged.String(); !strings.Contains(line, body.Ref) || !strings.Contains(line, "/secret/path") {
		t.Fatalf("log %q does not show ref %s with the error", line, body.Ref)
	}
	_, again := s.errorBody(errors.New("another"))
	if again.Ref == body.Ref {
		t.Fatal("two internal errors have one reference")
	}
}
