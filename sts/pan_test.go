package sts_test

import (
	"errors"
	"testing"

	"github.com/stskms/stskms/sts"
)

func TestParsePAN(t *testing.T) {
	tests := []struct {
		pan, iin, drn string
	}{
		// Notes §6.1/§7; PAN of the CTSA01 vectors.
		{"600727000000000009", "600727", "00000000000"},
		// Notes §7 Luhn example; PAN of NJ-STS_531_1_0_04_CTSA01-step5Test.
		{"000001000000000082", "0000", "0100000000008"},
		// Check digits computed by luhn_digit of
		// docs/notes/sts-token-check.py.
		{"600727012345678977", "600727", "01234567897"},
		{"000001234123456703", "0000", "0123412345670"},
	}
	for _, tt := range tests {
		t.Run(tt.pan, func(t *testing.T) {
			p, err := sts.ParsePAN(tt.pan)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tt.pan || p.IIN() != tt.iin || p.DRN() != tt.drn || p.IsZero() {
				t.Errorf("ParsePAN = %s (IIN %s, DRN %s, zero %v), want IIN %s DRN %s", p, p.IIN(), p.DRN(), p.IsZero(), tt.iin, tt.drn)
			}
			q, err := sts.NewPAN(tt.iin, tt.drn)
			if err != nil {
				t.Fatal(err)
			}
			if q != p {
				t.Errorf("NewPAN(%s, %s) = %s, want %s", tt.iin, tt.drn, q, p)
			}
		})
	}
	var zero sts.PAN
	if !zero.IsZero() {
		t.Error("zero PAN: IsZero() = false")
	}
}

func TestParsePANErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"wrong PAN check digit", "600727000000000008", sts.ErrCheckDigit},
		{"wrong PAN check digit, IIN 0000", "000001000000000081", sts.ErrCheckDigit},
		{"wrong DRN check digit", "600727000000000019", sts.ErrCheckDigit},
		{"wrong DRN check digit, IIN 0000", "000001000000000092", sts.ErrCheckDigit},
		{"17 digits", "60072700000000000", sts.ErrRange},
		{"19 digits", "6007270000000000090", sts.ErrRange},
		{"empty", "", sts.ErrRange},
		{"letter", "60072700000000000a", sts.ErrRange},
		{"spaces", "600727 00000000000 9", sts.ErrRange},
		{"sign", "+00727000000000009", sts.ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := sts.ParsePAN(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("ParsePAN(%q) = %s, %v; want %v", tt.in, p, err, tt.want)
			}
		})
	}
}

func TestNewPAN(t *testing.T) {
	tests := []struct {
		name, iin, drn string
		want           string
		wantErr        error
	}{
		{"legacy IIN", "600727", "00000000000", "600727000000000009", nil},
		{"IIN 0000", "0000", "0100000000008", "000001000000000082", nil},
		{"other 6-digit IIN", "123456", "01234567897", "", nil},
		{"wrong DRN check digit", "600727", "00000000001", "", sts.ErrCheckDigit},
		{"wrong 13-digit DRN check digit", "0000", "0100000000007", "", sts.ErrCheckDigit},
		{"6-digit IIN with 13-digit DRN", "600727", "0100000000008", "", sts.ErrRange},
		{"IIN 0000 with 11-digit DRN", "0000", "00000000000", "", sts.ErrRange},
		{"6-digit IIN starting 0000", "000012", "00000000000", "", sts.ErrRange},
		{"5-digit IIN", "60072", "00000000000", "", sts.ErrRange},
		{"7-digit IIN", "6007270", "00000000000", "", sts.ErrRange},
		{"4-digit IIN other than 0000", "6007", "0100000000008", "", sts.ErrRange},
		{"12-digit DRN", "0000", "010000000000", "", sts.ErrRange},
		{"letter in IIN", "60072a", "00000000000", "", sts.ErrRange},
		{"letter in DRN", "600727", "0000000000x", "", sts.ErrRange},
		{"empty", "", "", "", sts.ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sts.NewPAN(tt.iin, tt.drn)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("NewPAN = %s, %v; want %v", p, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && p.String() != tt.want {
				t.Errorf("NewPAN = %s, want %s", p, tt.want)
			}
			if q, err := sts.ParsePAN(p.String()); err != nil || q != p {
				t.Errorf("ParsePAN(%s) = %s, %v", p, q, err)
			}
		})
	}
}

func TestLuhnDigit(t *testing.T) {
	tests := []struct {
		in   string
		want byte
	}{
		{"60072700000000000", '9'}, // notes §7 [V]
		{"00000100000000008", '2'}, // notes §7 [V]
		{"010000000000", '8'},      // DRN check digit of 0100000000008 (sts-token-check.py)
		{"7992739871", '3'},        // the standard Luhn example (ISO/IEC 7812-1 annex, Wikipedia)
		{"0", '0'},
		{"1", '8'}, // by hand: 1·2 = 2 → 10 − 2
		{"", '0'},  // by hand: empty sum
	}
	for _, tt := range tests {
		got, err := sts.LuhnDigit(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("LuhnDigit(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"12a", " 1", "-1", "١٢"} {
		if _, err := sts.LuhnDigit(in); !errors.Is(err, sts.ErrRange) {
			t.Errorf("LuhnDigit(%q): err = %v, want ErrRange", in, err)
		}
	}
}
