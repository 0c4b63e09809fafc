package sts_test

import (
	"errors"
	"testing"

	"github.com/stskms/stskms/sts"
)

func TestNumberRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		digits string
	}{
		{"zero", "00000000000000000000"},
		{"one", "00000000000000000001"},
		{"2^64-1", "18446744073709551615"}, // by hand
		{"2^64", "18446744073709551616"},   // by hand
		{"2^66-1", "73786976294838206463"}, // notes §0
		{"class 1 vector", "56493153725450313471"},
		{"leading zero vector", "02305843005052951967"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustParseNumber(t, tt.digits)
			if got := n.String(); got != tt.digits {
				t.Errorf("String = %s, want %s", got, tt.digits)
			}
			if got := string(n.AppendDigits([]byte("token "))); got != "token "+tt.digits {
				t.Errorf("AppendDigits = %q", got)
			}
			if again := mustParseNumber(t, n.String()); again != n {
				t.Errorf("ParseNumber(String) = %v, want %v", again, n)
			}
		})
	}
}

func TestParseNumberErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"separators only", " - - "},
		{"19 digits", "5649315372545031347"},
		{"21 digits", "564931537254503134710"},
		{"letter", "5649315372545031347a"},
		{"letters", "abcdefghijklmnopqrst"},
		{"plus sign", "+5649315372545031347"},
		{"tab", "5649\t3153725450313471"},
		{"dot", "5649.3153.7254.5031.3471"},
		{"arabic-indic digit", "5649315372545031347٣"},
		{"2^66", "73786976294838206464"}, // by hand: 2^66
		{"all nines", "99999999999999999999"},
		{"2^67", "147573952589676412928"}, // 21 digits
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := sts.ParseNumber(tt.in)
			if !errors.Is(err, sts.ErrFormat) {
				t.Errorf("ParseNumber(%q) = %v, %v; want ErrFormat", tt.in, n, err)
			}
			if _, err := sts.DecodeString(tt.in, nil); !errors.Is(err, sts.ErrFormat) {
				t.Errorf("DecodeString(%q): err = %v, want ErrFormat", tt.in, err)
			}
		})
	}
}

func TestParseNumberSeparators(t *testing.T) {
	want := mustParseNumber(t, "56493153725450313471")
	for _, in := range []string{
		"5649 3153 7254 5031 3471",
		"5649-3153-7254-5031-3471",
		" 56493153725450313471 ",
		"56-49 31--53 7254503134 71",
	} {
		t.Run(in, func(t *testing.T) {
			got, err := sts.ParseNumber(in)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("ParseNumber = %s, want %s", got, want)
			}
		})
	}
}
