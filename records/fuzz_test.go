package records_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stskms/stskms/records"
)

// addRecordSeeds adds the §3.7 vector records, the seed records and a few
// near misses of each (a CRC off by one, a lower-case line, a field
// dropped).
func addRecordSeeds(f *testing.F) {
	f.Helper()
	var lines []string
	for _, r := range loadVectors(f).Records {
		lines = append(lines, r.Line)
	}
	for _, r := range loadSeeds(f).Records {
		lines = append(lines, r.Line)
	}
	for _, l := range lines {
		f.Add(l)
		f.Add(l[:len(l)-1] + "0")
		f.Add(strings.ToLower(l))
		f.Add(l[:strings.LastIndexByte(l, '|')])
	}
	for _, s := range []string{"", "|", "||||", "VK.1|", "KLF.END.1|1|" + strings.Repeat("0", 48) + "|0000"} {
		f.Add(s)
	}
}

// FuzzParse feeds arbitrary one-line bodies to Parse. It must never panic;
// a record accepted without error formats back to the identical line and
// rebuilds from its field texts; a record returned with an error has only
// CRC problems and formats to a line that parses cleanly (a fixed point).
// Anything else is a *FieldError without a record.
func FuzzParse(f *testing.F) {
	addRecordSeeds(f)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := records.Parse(line)
		var fe *records.FieldError
		switch {
		case r == nil:
			if err == nil {
				t.Fatal("nil record without error")
			}
			if !errors.As(err, &fe) || errors.Is(err, records.ErrCRC) {
				t.Fatalf("format error %v is not a *FieldError alone", err)
			}
			if fe.Field == "" && !errors.Is(err, records.ErrFieldCount) {
				t.Fatalf("error %v names no field", err)
			}
		case err != nil:
			if !errors.Is(err, records.ErrCRC) || errors.As(err, &fe) || r.CRCsOK() {
				t.Fatalf("record returned with a non-CRC error %v", err)
			}
			s := r.String()
			again, err := records.Parse(s)
			if err != nil {
				t.Fatalf("re-formatted %q: %v", s, err)
			}
			if again.String() != s {
				t.Fatalf("re-formatted %q is not a fixed point", s)
			}
		default:
			if !r.CRCsOK() {
				t.Fatalf("no error but CRCs %+v", r.CRCs())
			}
			if s := r.String(); s != line {
				t.Fatalf("String = %q, want %q", s, line)
			}
			var texts []any
			for _, fv := range r.Fields() {
				texts = append(texts, fv.Text)
			}
			built, err := records.New(r.Spec(), texts...)
			if err != nil || built.String() != line {
				t.Fatalf("New from field texts: %v", err)
			}
		}
	})
}

// FuzzParsePKID feeds arbitrary text to ParsePKID: a PKID accepted without
// error validates and formats back to the same text; one returned with a
// CRC error formats to a PKID that parses cleanly.
func FuzzParsePKID(f *testing.F) {
	v := loadVectors(f)
	for _, s := range []string{
		v.KMCID, v.SMID,
		"KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:6850",
		"SMID.1:Prism:94000304:20200622T130252Z:26D7925210FB47EA:2642",
		"SMID.1:Prism:94000304:20200622T130252Z:26D7925210FB47EA:2643",
		"SMID.1:::::", "", ":::::", "KMCID.1:a:b:20000229T235959Z:0000000000000000:0000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := records.ParsePKID(s)
		var ce *records.CRCError
		switch {
		case err == nil:
			if p.String() != s {
				t.Fatalf("String = %q, want %q", p.String(), s)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		case errors.As(err, &ce):
			q, err := records.ParsePKID(p.String())
			if err != nil || q != p {
				t.Fatalf("re-formatted %q: %v", p.String(), err)
			}
		default:
			var fe *records.FieldError
			if !errors.As(err, &fe) || p != (records.PKID{}) {
				t.Fatalf("error %v with PKID %+v", err, p)
			}
		}
	})
}
