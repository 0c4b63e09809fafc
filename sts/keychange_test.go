package sts_test

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/sts"
)

// permutations returns every ordering of s.
func permutations(s []sts.KeyChange) [][]sts.KeyChange {
	if len(s) <= 1 {
		return [][]sts.KeyChange{append([]sts.KeyChange(nil), s...)}
	}
	var out [][]sts.KeyChange
	for i := range s {
		rest := append(append([]sts.KeyChange(nil), s[:i]...), s[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]sts.KeyChange{s[i]}, p...))
		}
	}
	return out
}

func TestKeyChangeAssemble(t *testing.T) {
	tests := []struct {
		name string
		nk   sts.NewKey
		// wantParts are the key parts of the sections in the order
		// KeyChangeTokens returns them (notes §8, testdata/VECTORS.md).
		wantParts []uint32
	}{
		{
			"64-bit DUTK",
			sts.NewKey{Key: testvec.Hex(t, des64KeyHex), KeyType: sts.DUTK, KRN: 1, TI: 1, KEN: 255},
			[]uint32{0xE653341F, 0x9D5BF36F},
		},
		{
			"64-bit DCTK rollover",
			sts.NewKey{Key: testvec.Hex(t, "0123456789abcdef"), KeyType: sts.DCTK, KRN: 15, TI: 255, KEN: 0x5A, Rollover: true},
			[]uint32{0x01234567, 0x89ABCDEF},
		},
		{
			"64-bit DITK zero",
			sts.NewKey{Key: make([]byte, 8), KeyType: sts.DITK},
			[]uint32{0, 0},
		},
		{
			// Three tokens (STS 531-1-07 Ed. 2.2 CTSA05 step 4): the 3rd
			// carries the SGC in data block bits 36..59, i.e. SGC bits
			// 11..0 at the top of KeyPart and bits 23..12 in SGCPart.
			"64-bit three tokens",
			sts.NewKey{Key: testvec.Hex(t, des64KeyHex), KeyType: sts.DUTK, KRN: 1, TI: 2, KEN: 255, SGC: 201457, ThreeTokens: true},
			[]uint32{0xE653341F, 0x9D5BF36F, 0x2F1 << 20},
		},
		{
			"64-bit three tokens max SGC rollover",
			sts.NewKey{Key: testvec.Hex(t, "0123456789abcdef"), KeyType: sts.DCTK, KRN: 15, TI: 255, KEN: 0x5A, Rollover: true, SGC: sts.MaxSGC, ThreeTokens: true},
			[]uint32{0x01234567, 0x89ABCDEF, sts.MaxSGC & 0xFFF << 20},
		},
		{
			"128-bit DUTK rollover",
			sts.NewKey{Key: testvec.Hex(t, misty1KeyHex), KeyType: sts.DUTK, KRN: 1, TI: 1, KEN: 255, Rollover: true, SGC: 123457},
			// 1st bytes 0..3, 2nd bytes 12..15, 3rd bytes 4..7, 4th bytes 8..11.
			[]uint32{0xF94B6ED3, 0x7EA3C41D, 0x53C3BFDB, 0x113E2D3A},
		},
		{
			"128-bit DDTK max SGC",
			sts.NewKey{Key: testvec.Hex(t, "000102030405060708090a0b0c0d0e0f"), KeyType: sts.DDTK, KRN: 0, TI: 99, KEN: 0xA5, SGC: sts.MaxSGC},
			[]uint32{0x00010203, 0x0C0D0E0F, 0x04050607, 0x08090A0B},
		},
	}
	old := mustCipher(t, sts.EA11, otherMISTY1KeyHex) // the meter's current key
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secs, err := sts.KeyChangeTokens(tt.nk)
			if err != nil {
				t.Fatal(err)
			}
			wantSubs := []sts.Subclass{sts.DecoderKey1, sts.DecoderKey2, sts.DecoderKey3, sts.DecoderKey4}[:len(tt.wantParts)]
			if len(secs) != len(wantSubs) {
				t.Fatalf("%d sections, want %d", len(secs), len(wantSubs))
			}
			for i, s := range secs {
				if s.Sub != wantSubs[i] || s.KeyPart != tt.wantParts[i] || s.Section() != i+1 || s.Class() != sts.ClassManagement {
					t.Errorf("section %d = %+v, want subclass %d key part %#08x", i+1, s, wantSubs[i], tt.wantParts[i])
				}
			}
			// Field split (notes §8): KEN 4/4, SGC 12/12.
			if secs[0].KENHigh != tt.nk.KEN>>4 || secs[1].KENLow != tt.nk.KEN&0xF {
				t.Errorf("KEN split %x/%x, want %#02x", secs[0].KENHigh, secs[1].KENLow, tt.nk.KEN)
			}
			if len(secs) == 4 && (uint32(secs[2].SGCPart) != tt.nk.SGC&0xFFF || uint32(secs[3].SGCPart) != tt.nk.SGC>>12) {
				t.Errorf("SGC split %#03x/%#03x, want %d", secs[2].SGCPart, secs[3].SGCPart, tt.nk.SGC)
			}
			if secs[0].ThreeTokens != (len(secs) == 3) || len(secs) == 3 && uint32(secs[2].SGCPart) != tt.nk.SGC>>12 {
				t.Errorf("three-token flag %v, 3rd token SGC part %#03x", secs[0].ThreeTokens, secs[2].SGCPart)
			}
			// Through the wire: encrypt under the old key, decode.
			var decoded []sts.KeyChange
			for _, s := range secs {
				n, err := sts.Encode(s, old)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := sts.Decode(n, old)
				if err != nil {
					t.Fatal(err)
				}
				decoded = append(decoded, tok.(sts.KeyChange))
			}
			if !reflect.DeepEqual(decoded, secs) {
				t.Errorf("decoded sections %+v, want %+v", decoded, secs)
			}
			perms := permutations(decoded)
			if want := map[int]int{2: 2, 3: 6, 4: 24}[len(secs)]; len(perms) != want {
				t.Fatalf("%d permutations, want %d", len(perms), want)
			}
			for _, p := range perms {
				got, err := sts.AssembleKey(len(tt.nk.Key), p)
				if err != nil {
					t.Fatalf("order %v: %v", subs(p), err)
				}
				if !reflect.DeepEqual(got, tt.nk) {
					t.Fatalf("order %v: AssembleKey = %+v, want %+v", subs(p), got, tt.nk)
				}
			}
		})
	}
}

func subs(s []sts.KeyChange) []sts.Subclass {
	var out []sts.Subclass
	for _, k := range s {
		out = append(out, k.Sub)
	}
	return out
}

func TestKeyChangeTokens64BitIgnoresSGC(t *testing.T) {
	// A 64-bit set has no SGC field (notes §8): the SGC is dropped.
	secs, err := sts.KeyChangeTokens(sts.NewKey{Key: testvec.Hex(t, des64KeyHex), KeyType: sts.DUTK, KRN: 1, SGC: 123456})
	if err != nil {
		t.Fatal(err)
	}
	nk, err := sts.AssembleKey(8, secs)
	if err != nil || nk.SGC != 0 {
		t.Errorf("AssembleKey = %+v, %v; want SGC 0", nk, err)
	}
}

func TestKeyChangeTokensErrors(t *testing.T) {
	k8, k16 := testvec.Hex(t, des64KeyHex), testvec.Hex(t, misty1KeyHex)
	tests := []struct {
		name string
		nk   sts.NewKey
		want error
	}{
		{"no key", sts.NewKey{KRN: 1}, sts.ErrKey},
		{"12-byte key", sts.NewKey{Key: make([]byte, 12), KRN: 1}, sts.ErrKey},
		{"7-byte key", sts.NewKey{Key: k8[:7], KRN: 1}, sts.ErrKey},
		{"key type 4", sts.NewKey{Key: k8, KeyType: 4, KRN: 1}, sts.ErrRange},
		{"KRN 16", sts.NewKey{Key: k8, KRN: 16}, sts.ErrRange},
		{"SGC 7 digits", sts.NewKey{Key: k16, KRN: 1, SGC: sts.MaxSGC + 1}, sts.ErrRange},
		{"three tokens, SGC 7 digits", sts.NewKey{Key: k8, KRN: 1, SGC: sts.MaxSGC + 1, ThreeTokens: true}, sts.ErrRange},
		{"three tokens, 128-bit key", sts.NewKey{Key: k16, KRN: 1, SGC: 1, ThreeTokens: true}, sts.ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if secs, err := sts.KeyChangeTokens(tt.nk); !errors.Is(err, tt.want) {
				t.Errorf("KeyChangeTokens = %+v, %v; want %v", secs, err, tt.want)
			}
		})
	}
}

func TestAssembleKeyErrors(t *testing.T) {
	set8, err := sts.KeyChangeTokens(sts.NewKey{Key: testvec.Hex(t, des64KeyHex), KeyType: sts.DUTK, KRN: 1, KEN: 255})
	if err != nil {
		t.Fatal(err)
	}
	set16, err := sts.KeyChangeTokens(sts.NewKey{Key: testvec.Hex(t, misty1KeyHex), KeyType: sts.DUTK, KRN: 1, KEN: 255, SGC: 123457})
	if err != nil {
		t.Fatal(err)
	}
	s1, s2, s3, s4 := set16[0], set16[1], set16[2], set16[3]
	set3, err := sts.KeyChangeTokens(sts.NewKey{Key: testvec.Hex(t, des64KeyHex), KeyType: sts.DUTK, KRN: 1, KEN: 255, SGC: 201457, ThreeTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	t1, t2, t3 := set3[0], set3[1], set3[2]
	lowBits, bigSGC := t3, t3
	lowBits.KeyPart |= 1
	bigSGC.SGCPart = 0xFFF // SGC 4 194 303
	flagged16 := s1
	flagged16.ThreeTokens = true
	tests := []struct {
		name     string
		keySize  int
		sections []sts.KeyChange
		want     error
	}{
		{"8: none", 8, nil, sts.ErrRange},
		{"8: missing 2nd", 8, set8[:1], sts.ErrRange},
		{"8: missing 1st", 8, set8[1:], sts.ErrRange},
		{"8: repeated 1st", 8, []sts.KeyChange{set8[0], set8[0]}, sts.ErrRange},
		{"8: repeated 2nd", 8, []sts.KeyChange{set8[0], set8[1], set8[1]}, sts.ErrRange},
		{"8: 3rd section", 8, []sts.KeyChange{set8[0], set8[1], s3}, sts.ErrRange},
		{"8: 3rd instead of 2nd", 8, []sts.KeyChange{set8[0], s3}, sts.ErrRange},
		{"8: 4th section", 8, []sts.KeyChange{s4, set8[0], set8[1]}, sts.ErrRange},
		{"8: not a section", 8, []sts.KeyChange{set8[0], {Sub: sts.ClearCredit}}, sts.ErrRange},
		{"8: three tokens, 3rd missing", 8, []sts.KeyChange{t1, t2}, sts.ErrRange},
		{"8: three tokens, 1st missing", 8, []sts.KeyChange{t2, t3}, sts.ErrRange},
		{"8: three tokens and a 4th", 8, []sts.KeyChange{t1, t2, t3, s4}, sts.ErrRange},
		{"8: three tokens, 3rd bits 16..35 set", 8, []sts.KeyChange{t1, t2, lowBits}, sts.ErrRange},
		{"8: three tokens, SGC 7 digits", 8, []sts.KeyChange{t1, t2, bigSGC}, sts.ErrRange},
		{"8: unflagged 1st with a 3rd token", 8, []sts.KeyChange{set8[0], t2, t3}, sts.ErrRange},
		{"16: three-token flag", 16, []sts.KeyChange{flagged16, s2, s3, s4}, sts.ErrRange},
		{"16: three-token set", 16, set3, sts.ErrRange},
		{"16: missing 4th", 16, []sts.KeyChange{s1, s2, s3}, sts.ErrRange},
		{"16: missing 1st", 16, []sts.KeyChange{s2, s3, s4}, sts.ErrRange},
		{"16: only 64-bit part", 16, []sts.KeyChange{s1, s2}, sts.ErrRange},
		{"16: repeated 3rd", 16, []sts.KeyChange{s1, s2, s3, s3}, sts.ErrRange},
		{"16: repeated 3rd, 4th missing", 16, []sts.KeyChange{s3, s1, s3, s2}, sts.ErrRange},
		{"16: five sections", 16, []sts.KeyChange{s1, s2, s3, s4, s4}, sts.ErrRange},
		{"16: not a section", 16, []sts.KeyChange{s1, s2, s3, {Sub: 0}}, sts.ErrRange},
		{"key size 0", 0, set8, sts.ErrKey},
		{"key size 12", 12, set8, sts.ErrKey},
		{"key size 32", 32, set16, sts.ErrKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if nk, err := sts.AssembleKey(tt.keySize, tt.sections); !errors.Is(err, tt.want) {
				t.Errorf("AssembleKey = %+v, %v; want %v", nk, err, tt.want)
			}
		})
	}
}

func TestKeyChangeSectionOf(t *testing.T) {
	want := map[sts.Subclass]int{sts.DecoderKey1: 1, sts.DecoderKey2: 2, sts.DecoderKey3: 3, sts.DecoderKey4: 4}
	for sub := range sts.Subclass(16) {
		if got := (sts.KeyChange{Sub: sub}).Section(); got != want[sub] {
			t.Errorf("section of subclass %d = %d, want %d", sub, got, want[sub])
		}
	}
}

// TestKeyChangeKeyPartsBigEndian pins "KeyPart: 32 bits of the new key,
// big-endian": the 1st section of a 64-bit key carries bytes 0..3.
func TestKeyChangeKeyPartsBigEndian(t *testing.T) {
	key := testvec.Hex(t, des64KeyHex)
	secs, err := sts.KeyChangeTokens(sts.NewKey{Key: key, KRN: 1})
	if err != nil {
		t.Fatal(err)
	}
	if secs[0].KeyPart != binary.BigEndian.Uint32(key[:4]) || secs[1].KeyPart != binary.BigEndian.Uint32(key[4:]) {
		t.Errorf("key parts %#08x %#08x", secs[0].KeyPart, secs[1].KeyPart)
	}
}

// TestKeyChangeAllowed pins the key change matrix of docs/tokens.md §15
// (meter-and-key-rules.md §B.4): all 16 pairs.
func TestKeyChangeAllowed(t *testing.T) {
	allowed := map[[2]sts.KeyType]bool{
		{sts.DITK, sts.DDTK}: true, {sts.DITK, sts.DUTK}: true, {sts.DITK, sts.DCTK}: true,
		{sts.DUTK, sts.DUTK}: true, {sts.DUTK, sts.DDTK}: true,
		{sts.DCTK, sts.DCTK}: true,
		{sts.DDTK, sts.DUTK}: true, {sts.DDTK, sts.DCTK}: true, {sts.DDTK, sts.DDTK}: true,
	}
	for from := sts.DITK; from <= sts.DCTK; from++ {
		for to := sts.DITK; to <= sts.DCTK; to++ {
			if got := sts.KeyChangeAllowed(from, to); got != allowed[[2]sts.KeyType{from, to}] {
				t.Errorf("KeyChangeAllowed(%v, %v) = %v", from, to, got)
			}
		}
	}
}
