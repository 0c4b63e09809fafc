package errwalk

import (
	"path/filepath"
	"slices"
	"testing"

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
