package armor_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stskms/stskms/records/armor"
)

// Record files of testdata/, "NAME = record" per line (see their headers
// for provenance).
const (
	// vectorRecords: the one-line records printed by
	// docs/notes/kms-vectors.py, kms-records.md §3.7.
	vectorRecords = "testdata/kms-vectors-records.txt"
	// seedRecords: R1 and R2 of the seed STS 600-9-2 §5.1.3.5 and
	// §5.1.4.4 (the R1 and R2 strings of kms-vectors.py).
	seedRecords = "testdata/seed-records.txt"
)

// namedRecord is one line of a record file.
type namedRecord struct {
	name, body string
}

// loadRecords reads a record file in order.
func loadRecords(tb testing.TB, path string) []namedRecord {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []namedRecord
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, body, ok := strings.Cut(line, " = ")
		if !ok {
			tb.Fatalf("%s: bad line %q", path, line)
		}
		out = append(out, namedRecord{name, body})
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no records", path)
	}
	return out
}

// record returns the named record of a file.
func record(tb testing.TB, path, name string) string {
	tb.Helper()
	for _, r := range loadRecords(tb, path) {
		if r.name == name {
			return r.body
		}
	}
	tb.Fatalf("%s: no record %s", path, name)
	return ""
}

// allRecords returns the §3.7 records followed by the seed records.
func allRecords(tb testing.TB) []namedRecord {
	tb.Helper()
	return append(loadRecords(tb, vectorRecords), loadRecords(tb, seedRecords)...)
}

// mustWrap wraps a body that must be valid.
func mustWrap(tb testing.TB, body string) string {
	tb.Helper()
	b, err := armor.Wrap(body)
	if err != nil {
		tb.Fatalf("Wrap(%.40q…): %v", body, err)
	}
	return string(b)
}

// faults splits an error of Find or ParseFile into its *Errors.
func faults(tb testing.TB, err error) []*armor.Error {
	tb.Helper()
	var out []*armor.Error
	for _, e := range armor.Faults(err) {
		var ae *armor.Error
		if !errors.As(e, &ae) {
			tb.Fatalf("error %v (%T) is not an *armor.Error", e, e)
		}
		out = append(out, ae)
	}
	return out
}

// sentinels are all sentinel errors of the package.
var sentinels = []error{
	armor.ErrUnterminated, armor.ErrNested, armor.ErrTypeMismatch, armor.ErrStrayEnd,
	armor.ErrBadType, armor.ErrBadCharacter, armor.ErrWhitespace, armor.ErrEmpty,
	armor.ErrTooLong, armor.ErrNotRecord, armor.ErrStrayText, armor.ErrNoRecords,
	armor.ErrTooManyErrors,
}

// knownSentinel reports whether err is one of sentinels.
func knownSentinel(err error) bool {
	for _, s := range sentinels {
		if err == s {
			return true
		}
	}
	return false
}

// mapLines applies f to every line of a CRLF text and joins the results
// with sep.
func mapLines(text, sep string, f func(i int, line string) string) string {
	lines := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")
	for i, l := range lines {
		lines[i] = f(i, l)
	}
	return strings.Join(lines, sep) + sep
}
