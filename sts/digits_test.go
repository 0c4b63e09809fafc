package sts_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stskms/stskms/sts"
)

// hostileDigits are inputs every digit parser refuses, whatever its width:
// signs, base prefixes, spaces, other scripts' digits, underscores.
var hostileDigits = []string{
	"", " ", "+1", "-1", "0x1", "0o7", "0b1", "1_0", " 1", "1 ", "\t1", "1\n",
	"١", "０", "𝟏", "1e0", "1.", "a", "\x00", "+12345", "-12345", "0x1234", "0o1234", "0b1010", "12_345",
	"１２３４５６", "١٢٣٤٥٦", " 12345", "12345 ", "+0", "-0", "0x", "00x1", "1e",
}

func TestParseDigitFields(t *testing.T) {
	type parsed struct {
		v   uint64
		err error
	}
	parsers := map[string]func(string) parsed{
		"SGC": func(s string) parsed { v, err := sts.ParseSGC(s); return parsed{uint64(v), err} },
		"TI":  func(s string) parsed { v, err := sts.ParseTI(s); return parsed{uint64(v), err} },
		"KRN": func(s string) parsed { v, err := sts.ParseKRN(s); return parsed{uint64(v), err} },
	}
	tests := []struct {
		field, in string
		want      uint64
		ok        bool
	}{
		{"SGC", "012345", 12345, true}, // a leading zero is a digit, not octal
		{"SGC", "000000", 0, true},
		{"SGC", "999999", 999999, true},
		{"SGC", "123456", 123456, true},
		{"SGC", "010000", 10000, true},
		{"SGC", "60012", 0, false}, // 5 digits is refused, never padded
		{"SGC", "1234567", 0, false},
		{"SGC", "0123456", 0, false},
		{"SGC", "12345a", 0, false},
		{"TI", "08", 8, true}, // not a bad octal number
		{"TI", "09", 9, true},
		{"TI", "00", 0, true},
		{"TI", "99", 99, true},
		{"TI", "8", 0, false},
		{"TI", "100", 0, false},
		{"TI", "008", 0, false},
		{"KRN", "1", 1, true},
		{"KRN", "9", 9, true},
		{"KRN", "0", 0, false}, // 0 is no revision
		{"KRN", "10", 0, false},
		{"KRN", "15", 0, false}, // the 4-bit token field's top is not a KRN
		{"KRN", "01", 0, false},
		{"KRN", "f", 0, false},
	}
	for field := range parsers {
		for _, in := range hostileDigits {
			tests = append(tests, struct {
				field, in string
				want      uint64
				ok        bool
			}{field, in, 0, false})
		}
	}
	for _, tt := range tests {
		got := parsers[tt.field](tt.in)
		if tt.ok {
			if got.err != nil || got.v != tt.want {
				t.Errorf("Parse%s(%q) = %d, %v; want %d", tt.field, tt.in, got.v, got.err, tt.want)
			}
			continue
		}
		var de *sts.DigitsError
		if !errors.As(got.err, &de) || !errors.Is(got.err, sts.ErrRange) {
			t.Errorf("Parse%s(%q) = %d, %v; want a *DigitsError wrapping ErrRange", tt.field, tt.in, got.v, got.err)
			continue
		}
		if de.Field != tt.field || !strings.Contains(got.err.Error(), tt.field+" must be ") {
			t.Errorf("Parse%s(%q): error %q does not name the field and its rule", tt.field, tt.in, got.err)
		}
	}
}

func TestDigitsErrorMessage(t *testing.T) {
	_, err := sts.ParseSGC("60012")
	if err == nil || err.Error() != `sts: value out of range: SGC must be 6 decimal digits, not "60012"` {
		t.Errorf("ParseSGC(60012) = %v", err)
	}
	_, err = sts.ParseSGC(strings.Repeat("9", 10_000))
	if err == nil || len(err.Error()) > 200 {
		t.Errorf("a long input is repeated whole: %d bytes", len(err.Error()))
	}
}

func TestCheckDigitFields(t *testing.T) {
	tests := []struct {
		name  string
		check func(int64) error
		ok    []int64
		bad   []int64
	}{
		{"SGC", sts.CheckSGC, []int64{0, 60012, 999999}, []int64{-1, 1_000_000, 1 << 40}},
		{"TI", sts.CheckTI, []int64{0, 8, 99}, []int64{-1, 100, 255}},
		{"KRN", sts.CheckKRN, []int64{1, 9}, []int64{0, -1, 10, 15}},
	}
	for _, tt := range tests {
		for _, v := range tt.ok {
			if err := tt.check(v); err != nil {
				t.Errorf("Check%s(%d) = %v", tt.name, v, err)
			}
		}
		for _, v := range tt.bad {
			var de *sts.DigitsError
			if err := tt.check(v); !errors.As(err, &de) || de.Field != tt.name {
				t.Errorf("Check%s(%d) = %v; want a DigitsError of %s", tt.name, v, err, tt.name)
			}
		}
	}
	if sts.FormatSGC(12345) != "012345" || sts.FormatTI(8) != "08" {
		t.Errorf("FormatSGC(12345) = %s, FormatTI(8) = %s", sts.FormatSGC(12345), sts.FormatTI(8))
	}
}

func TestPANDigitErrors(t *testing.T) {
	tests := []struct{ iin, drn, field string }{
		{"60072", "00000000000", "IIN"},
		{"000000", "00000000000", "IIN"}, // a 6-digit IIN never starts 0000
		{"0001", "0100000000008", "IIN"},
		{"６００７２７", "00000000000", "IIN"},
		{"600727", "0000000000", "DRN"},
		{"600727", "0100000000008", "DRN"}, // 13 digits only with IIN 0000
		{"0000", "00000000000", "DRN"},
		{"600727", "+0000000000", "DRN"},
	}
	for _, tt := range tests {
		_, err := sts.NewPAN(tt.iin, tt.drn)
		var de *sts.DigitsError
		if !errors.As(err, &de) || de.Field != tt.field {
			t.Errorf("NewPAN(%q, %q) = %v; want a DigitsError of %s", tt.iin, tt.drn, err, tt.field)
		}
	}
	for _, s := range append(hostileDigits, "60072700000000000", "6007270000000000090", "0x0727000000000009") {
		_, err := sts.ParsePAN(s)
		var de *sts.DigitsError
		if !errors.As(err, &de) || de.Field != "PAN" {
			t.Errorf("ParsePAN(%q) = %v; want a DigitsError of PAN", s, err)
		}
	}
}

// FuzzParseDigits checks the digit parsers against their definition: a
// string is accepted exactly when it is the field's width of ASCII digits
// (and for a KRN not "0"), and then its value prints back to the same
// string. Nothing panics.
func FuzzParseDigits(f *testing.F) {
	for _, s := range append(hostileDigits, "012345", "60012", "08", "8", "1", "0", "999999", "0123456") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ascii := true
		for i := 0; i < len(s); i++ {
			ascii = ascii && s[i] >= '0' && s[i] <= '9'
		}
		sgc, err := sts.ParseSGC(s)
		if (err == nil) != (ascii && len(s) == 6) {
			t.Fatalf("ParseSGC(%q) = %d, %v", s, sgc, err)
		}
		if err == nil && sts.FormatSGC(sgc) != s {
			t.Fatalf("ParseSGC(%q) = %d, which prints as %s", s, sgc, sts.FormatSGC(sgc))
		}
		ti, err := sts.ParseTI(s)
		if (err == nil) != (ascii && len(s) == 2) {
			t.Fatalf("ParseTI(%q) = %d, %v", s, ti, err)
		}
		if err == nil && sts.FormatTI(ti) != s {
			t.Fatalf("ParseTI(%q) = %d, which prints as %s", s, ti, sts.FormatTI(ti))
		}
		krn, err := sts.ParseKRN(s)
		if (err == nil) != (ascii && len(s) == 1 && s != "0") {
			t.Fatalf("ParseKRN(%q) = %d, %v", s, krn, err)
		}
		if err == nil && strconv.Itoa(int(krn)) != s {
			t.Fatalf("ParseKRN(%q) = %d", s, krn)
		}
	})
}
