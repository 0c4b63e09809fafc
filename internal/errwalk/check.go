package errwalk

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sts"
)

// Check walks the packages in dirs (see Exported) and fails t for each
// exported error that has no entry in samples and for each entry that is no
// exported error any more. Names are qualified with the base name of their
// directory ("sts.ErrCRC").
func Check(t testing.TB, samples map[string]error, dirs ...string) {
	t.Helper()
	var found []string
	for _, d := range dirs {
		names, err := Exported(d)
		if err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			found = append(found, filepath.Base(abs)+"."+n)
		}
	}
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

// Answer is what an API tells its client of an error.
type Answer struct {
	Status int    // the HTTP status
	Code   string // the error code of the body
	Field  string // the input field the body names
	Ref    string // the reference of an internal error
	Text   string // the words of the body
}

// CheckAnswered fails t for each sample that answer, given it bare or
// wrapped, does not refuse: a 4xx or 503 status, a code and no reference
// (which marks an internal error); and for each that it does not answer,
// as the input error of field (httpapi.FieldError), with 400 naming
// field.
func CheckAnswered(t testing.TB, samples map[string]error, answer func(error) Answer, field string) {
	t.Helper()
	for n, e := range samples {
		for _, err := range []error{e, fmt.Errorf("context: %w", e)} {
			a := answer(err)
			refused := a.Status >= 400 && a.Status < 500 || a.Status == http.StatusServiceUnavailable
			if !refused || a.Code == "" || a.Ref != "" {
				t.Errorf("%s: %+v", n, a)
			}
		}
		if a := answer(httpapi.FieldError(field, e)); a.Status != http.StatusBadRequest || a.Field != field {
			t.Errorf("%s as the error of a field: %+v", n, a)
		}
	}
}

// CheckInternal fails t unless answer tells of a genuine internal error
// only a 500 with code and a reference of 16 characters, without the
// error's words; the server's log (logged) shows the reference with them,
// and another internal error gets another reference.
func CheckInternal(t testing.TB, answer func(error) Answer, code string, logged fmt.Stringer) {
	t.Helper()
	a := answer(errors.New("database at /secret/path is gone"))
	if a.Status != http.StatusInternalServerError || a.Code != code || len(a.Ref) != 16 || strings.Contains(a.Text, "secret") {
		t.Fatalf("internal error: %+v", a)
	}
	if line := logged.String(); !strings.Contains(line, a.Ref) || !strings.Contains(line, "/secret/path") {
		t.Fatalf("log %q does not show ref %s with the error", line, a.Ref)
	}
	if again := answer(errors.New("another")); again.Ref == a.Ref {
		t.Fatal("two internal errors have one reference")
	}
}

// Samples returns an error of each kind packages sts and records export,
// by qualified name, for Check; the caller adds its own package's.
func Samples() map[string]error {
	return map[string]error{
		"sts.ErrFormat": sts.ErrFormat, "sts.ErrCRC": sts.ErrCRC, "sts.ErrReserved": sts.ErrReserved,
		"sts.ErrRange": sts.ErrRange, "sts.ErrNoKey": sts.ErrNoKey, "sts.ErrKey": sts.ErrKey,
		"sts.ErrCheckDigit": sts.ErrCheckDigit, "sts.ErrBeforeBaseDate": sts.ErrBeforeBaseDate,
		"sts.ErrTIDRollover": sts.ErrTIDRollover, "sts.ErrAmountTooLarge": sts.ErrAmountTooLarge,
		"sts.DigitsError": &sts.DigitsError{Field: "SGC", Rule: "6 decimal digits", Value: "12"},

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
}
