package sts_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stskms/stskms/sts"
)

// amountBoundaries are the edges of the four exponent ranges of notes §4:
// e=0 0..16383, e=1 16384..180214, e=2 180224..1818524, e=3
// 1818624..18201624, and the gaps 180215..180223, 1818525..1818623.
var amountBoundaries = []uint64{
	0, 1, 16383, 16384, 16385, 180213, 180214, 180215, 180223, 180224, 180225,
	1818523, 1818524, 1818525, 1818623, 1818624, 1818625, 18201623, 18201624,
}

func TestEncodeAmountBoundaries(t *testing.T) {
	// Expected fields and values computed by amount_encode/amount_decode
	// of docs/notes/sts-token-check.py (notes §4 formula, rounding up).
	tests := []struct {
		v     uint64
		field sts.Amount
		value uint64
	}{
		{0, 0x0000, 0},
		{1, 0x0001, 1},
		{256, 0x0100, 256},
		{16383, 0x3FFF, 16383},
		{16384, 0x4000, 16384},
		{16385, 0x4001, 16394},
		{16390, 0x4001, 16394},
		{180000, 0x7FEA, 180004}, // notes §4 example
		{180213, 0x7FFF, 180214},
		{180214, 0x7FFF, 180214},
		{180215, 0x8000, 180224},
		{180223, 0x8000, 180224},
		{180224, 0x8000, 180224},
		{180225, 0x8001, 180324},
		{1818524, 0xBFFF, 1818524},
		{1818525, 0xC000, 1818624},
		{1818623, 0xC000, 1818624},
		{1818624, 0xC000, 1818624},
		{18201624, 0xFFFF, 18201624},
	}
	for _, tt := range tests {
		a, err := sts.EncodeAmount(tt.v)
		if err != nil {
			t.Errorf("EncodeAmount(%d): %v", tt.v, err)
			continue
		}
		if a != tt.field || a.Value() != tt.value {
			t.Errorf("EncodeAmount(%d) = %#04x (value %d), want %#04x (value %d)", tt.v, uint16(a), a.Value(), uint16(tt.field), tt.value)
		}
	}
	if sts.MaxAmount != 18201624 {
		t.Errorf("MaxAmount = %d, want 18201624 (notes §4)", sts.MaxAmount)
	}
}

func TestEncodeAmountTooLarge(t *testing.T) {
	for _, v := range []uint64{sts.MaxAmount + 1, sts.MaxAmount + 1000, 1 << 32, math.MaxUint64} {
		if a, err := sts.EncodeAmount(v); !errors.Is(err, sts.ErrAmountTooLarge) {
			t.Errorf("EncodeAmount(%d) = %#04x, %v; want ErrAmountTooLarge", v, uint16(a), err)
		}
	}
}

// allAmountValues decodes all 65536 fields, sorted by value.
func allAmountValues() []uint64 {
	vals := make([]uint64, 1<<16)
	for f := range vals {
		vals[f] = sts.Amount(f).Value()
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	return vals
}

func TestAmountFieldsExhaustive(t *testing.T) {
	// Field order is value order, every value is distinct, and encoding a
	// representable value gives its field back.
	prev := uint64(0)
	for f := range 1 << 16 {
		a := sts.Amount(f)
		v := a.Value()
		if f > 0 && v <= prev {
			t.Fatalf("Value(%#04x) = %d is not above Value(%#04x) = %d", f, v, f-1, prev)
		}
		got, err := sts.EncodeAmount(v)
		if err != nil || got != a {
			t.Fatalf("EncodeAmount(%d) = %#04x, %v; want %#04x", v, uint16(got), err, f)
		}
		if f > 0 {
			// The first value above the previous representable one
			// rounds up to this field.
			if got, err := sts.EncodeAmount(prev + 1); err != nil || got != a {
				t.Fatalf("EncodeAmount(%d) = %#04x, %v; want %#04x", prev+1, uint16(got), err, f)
			}
		}
		prev = v
	}
	if prev != sts.MaxAmount {
		t.Errorf("Value(0xFFFF) = %d, want MaxAmount %d", prev, sts.MaxAmount)
	}
}

func TestEncodeAmountSmallestRepresentable(t *testing.T) {
	vals := allAmountValues()
	r := rand.New(rand.NewPCG(5, 6))
	samples := append([]uint64(nil), amountBoundaries...)
	for range 200000 {
		samples = append(samples, r.Uint64N(sts.MaxAmount+1))
	}
	for _, v := range samples {
		a, err := sts.EncodeAmount(v)
		if err != nil {
			t.Fatalf("EncodeAmount(%d): %v", v, err)
		}
		want := vals[sort.Search(len(vals), func(i int) bool { return vals[i] >= v })]
		if got := a.Value(); got != want {
			t.Fatalf("EncodeAmount(%d).Value() = %d, want the smallest representable value ≥ v, %d", v, got, want)
		}
	}
}

func TestParseTenths(t *testing.T) {
	// By hand: tenths of the decimal, rounded up past the first decimal.
	tests := []struct {
		in   string
		want uint64
	}{
		{"25.6", 256},
		{"25.61", 257},
		{"25.60", 256},
		{"25.6000001", 257},
		{"25", 250},
		{"0.05", 1},
		{"0.01", 1},
		{"0.00", 0},
		{"0", 0},
		{".5", 5},
		{"5.", 50},
		{"007.5", 75},
		{"1820162.4", sts.MaxAmount},
		// (2^64−1)/10 − 1 is the largest whole part accepted, so .99 can
		// round up without overflow: 1844674407370955160·10 + 9 + 1.
		{"1844674407370955160.99", 18446744073709551610},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := sts.ParseTenths(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseTenths(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseTenthsErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", sts.ErrRange},
		{".", sts.ErrRange},
		{"-1", sts.ErrRange},
		{"+1", sts.ErrRange},
		{"1e3", sts.ErrRange},
		{"abc", sts.ErrRange},
		{"1.2.3", sts.ErrRange},
		{"1,5", sts.ErrRange},
		{" 1", sts.ErrRange},
		{"1 ", sts.ErrRange},
		{"1.-5", sts.ErrRange},
		{"1844674407370955161", sts.ErrAmountTooLarge},
		{"18446744073709551616", sts.ErrAmountTooLarge},
		{"99999999999999999999999999.9", sts.ErrAmountTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := sts.ParseTenths(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseTenths(%q) = %d, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
