package sts

import (
	"math"
	"math/rand/v2"
	"testing"
)

const classBitsMask = 1<<27 | 1<<28

func TestTransposeBitPositions(t *testing.T) {
	// Notes §1.2: data bits 27 and 28 move to token bits 64 and 65; class
	// bit 0 goes to bit 27 and class bit 1 to bit 28 (by hand from the
	// notes' pseudo-code).
	tests := []struct {
		name  string
		class Class
		block uint64
		want  Number
	}{
		{"zero", ClassCredit, 0, Number{}},
		{"bit 27 to 64", ClassCredit, 1 << 27, Number{hi: 1}},
		{"bit 28 to 65", ClassCredit, 1 << 28, Number{hi: 2}},
		{"class 1 to bit 27", ClassTest, 0, Number{lo: 1 << 27}},
		{"class 2 to bit 28", ClassManagement, 0, Number{lo: 1 << 28}},
		{"class 3 to bits 27 and 28", ClassReserved, 0, Number{lo: classBitsMask}},
		{"other bits stay", ClassCredit, math.MaxUint64 &^ classBitsMask, Number{lo: math.MaxUint64 &^ classBitsMask}},
		{"all ones class 0", ClassCredit, math.MaxUint64, Number{hi: 3, lo: math.MaxUint64 &^ classBitsMask}},
		{"all ones class 3", ClassReserved, math.MaxUint64, Number{hi: 3, lo: math.MaxUint64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := transpose(tt.class, tt.block)
			if got != tt.want {
				t.Fatalf("transpose(%d, %#x) = {hi %d lo %#x}, want {hi %d lo %#x}", tt.class, tt.block, got.hi, got.lo, tt.want.hi, tt.want.lo)
			}
			class, block := got.untranspose()
			if class != tt.class || block != tt.block {
				t.Errorf("untranspose = (%d, %#x), want (%d, %#x)", class, block, tt.class, tt.block)
			}
		})
	}
}

func TestTransposeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		class, block := Class(r.UintN(4)), r.Uint64()
		n := transpose(class, block)
		if n.hi > 3 {
			t.Fatalf("transpose(%d, %#x): hi = %d has bits above 65", class, block, n.hi)
		}
		if n.hi&1 != uint8(block>>27&1) || n.hi>>1 != uint8(block>>28&1) {
			t.Fatalf("transpose(%d, %#x): bits 64/65 = %02b, want data bits 27/28", class, block, n.hi)
		}
		if Class(n.lo>>27&1) != class&1 || Class(n.lo>>28&1) != class>>1 {
			t.Fatalf("transpose(%d, %#x): bits 27/28 of %#x do not hold the class", class, block, n.lo)
		}
		if n.lo&^classBitsMask != block&^classBitsMask {
			t.Fatalf("transpose(%d, %#x): other bits changed: %#x", class, block, n.lo)
		}
		if c, b := n.untranspose(); c != class || b != block {
			t.Fatalf("untranspose(transpose(%d, %#x)) = (%d, %#x)", class, block, c, b)
		}
		// And the other way round, for every 66-bit number.
		m := Number{hi: uint8(r.UintN(4)), lo: r.Uint64()}
		if got := transpose(m.untranspose()); got != m {
			t.Fatalf("transpose(untranspose(%+v)) = %+v", m, got)
		}
	}
}

func TestParseNumberInternalValue(t *testing.T) {
	// Powers of two by hand: 2^64 = 18446744073709551616, 2^66 − 1 =
	// 73786976294838206463 (notes §0).
	tests := []struct {
		digits string
		want   Number
	}{
		{"00000000000000000000", Number{}},
		{"00000000000000000001", Number{lo: 1}},
		{"18446744073709551615", Number{lo: math.MaxUint64}},
		{"18446744073709551616", Number{hi: 1}},
		{"36893488147419103232", Number{hi: 2}},
		{"73786976294838206463", Number{hi: 3, lo: math.MaxUint64}},
	}
	for _, tt := range tests {
		t.Run(tt.digits, func(t *testing.T) {
			got, err := ParseNumber(tt.digits)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseNumber = {hi %d lo %#x}, want {hi %d lo %#x}", got.hi, got.lo, tt.want.hi, tt.want.lo)
			}
			if s := tt.want.String(); s != tt.digits {
				t.Errorf("String = %s, want %s", s, tt.digits)
			}
		})
	}
}
