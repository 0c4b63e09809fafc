package sts_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stskms/stskms/internal/stsvec"
	"github.com/stskms/stskms/sts"
)

// addVectorSeeds adds every 20-digit token and PAN of the vector files.
func addVectorSeeds(f *testing.F, pans bool) {
	f.Helper()
	seen := map[string]bool{}
	for _, path := range []string{vectorFile, staTestVectorFile} {
		for _, v := range stsvec.Load(f, path) {
			s := v.Expected.Token20
			if pans {
				s = v.Inputs.PAN
			}
			if s != "" && !seen[s] {
				seen[s] = true
				f.Add(s)
			}
		}
	}
}

// FuzzDecode feeds arbitrary strings through ParseNumber and Decode, with a
// MISTY1 cipher and with none. Whatever decodes must re-encode to the same
// digits: every data block bit belongs to exactly one field.
func FuzzDecode(f *testing.F) {
	addVectorSeeds(f, false)
	for _, s := range []string{
		"", "00000000000000000000", "73786976294838206463", "73786976294838206464",
		"99999999999999999999", "5649 3153 7254 5031 3471", "5649-3153-7254-5031-3471x", "abc",
	} {
		f.Add(s)
	}
	misty := mustCipher(f, sts.EA11, misty1KeyHex)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := sts.ParseNumber(s)
		if err != nil {
			if !errors.Is(err, sts.ErrFormat) {
				t.Fatalf("ParseNumber(%q): %v is not ErrFormat", s, err)
			}
			return
		}
		if again, err := sts.ParseNumber(n.String()); err != nil || again != n {
			t.Fatalf("ParseNumber(%q).String() = %s does not parse back: %v", s, n, err)
		}
		for _, c := range []sts.Cipher{misty, nil} {
			tok, err := sts.Decode(n, c)
			if err != nil {
				if !errors.Is(err, sts.ErrCRC) && !errors.Is(err, sts.ErrReserved) &&
					!errors.Is(err, sts.ErrRange) && !errors.Is(err, sts.ErrNoKey) {
					t.Fatalf("Decode(%s): unexpected error %v", n, err)
				}
				continue
			}
			if c == nil && tok.Class() != sts.ClassTest {
				t.Fatalf("Decode(%s) without a key gave class %d", n, tok.Class())
			}
			back, err := sts.Encode(tok, c)
			if err != nil {
				t.Fatalf("Encode(Decode(%s) = %#v): %v", n, tok, err)
			}
			if back != n {
				t.Fatalf("Encode(Decode(%s) = %#v) = %s", n, tok, back)
			}
		}
	})
}

// FuzzRoundTrip builds tokens of every class from fuzz inputs and checks
// that Encode accepts exactly the valid ones and that Decode gives them back
// under EA07 (test tables), EA09 and EA11. Unless raw&1 is set, fields are
// first masked into range so that most inputs are valid.
func FuzzRoundTrip(f *testing.F) {
	// kind: 0 credit (subclasses 4..7: currency credit, value the 20-bit
	// field), 1 management, 2 test, 3 key change.
	f.Add(uint8(0), uint8(0), uint64(0x7FEA), uint64(0), uint32(5871715), uint8(5), uint8(0))     // credit 180004
	f.Add(uint8(0), uint8(4), uint64(0xFFFFF), uint64(0), uint32(sts.MaxTID), uint8(0), uint8(2)) // currency, max
	f.Add(uint8(1), uint8(1), uint64(0xFFFF), uint64(0), uint32(5871660), uint8(5), uint8(4))     // clear credit
	f.Add(uint8(1), uint8(0), uint64(1000), uint64(0), uint32(5871660), uint8(5), uint8(0))       // MPL
	f.Add(uint8(2), uint8(0), uint64(0), uint64(1<<36-1), uint32(0), uint8(0), uint8(0))          // CTSA02 test 1
	f.Add(uint8(2), uint8(1), uint64(0), uint64(1<<28-1), uint32(0), uint8(0), uint8(2))          // CTSA02 test 2
	// Key change sections of the 128-bit set of TestKeyChangeAssemble: control bytes are KT, KRN,
	// KEN high, TI, KEN low, then SGC part at bits 40..55, rollover at bit 56 and the
	// three-token flag at bit 57.
	f.Add(uint8(3), uint8(0), uint64(0xF94B6ED3), uint64(2|1<<8|0xF<<16|1<<56), uint32(0), uint8(0), uint8(4))
	f.Add(uint8(3), uint8(1), uint64(0x7EA3C41D), uint64(1<<24|0xF<<32), uint32(0), uint8(0), uint8(0))
	f.Add(uint8(3), uint8(2), uint64(0x53C3BFDB), uint64(123457&0xFFF)<<40, uint32(0), uint8(0), uint8(2))
	f.Add(uint8(3), uint8(3), uint64(0x113E2D3A), uint64(123457>>12)<<40, uint32(0), uint8(0), uint8(4))
	// The three-token 64-bit set of STS 531-1-07 Ed. 2.2 CTSA05 step 4 (1st section, 3rd token).
	f.Add(uint8(3), uint8(0), uint64(0x7F78CDD2), uint64(2|1<<8|0xF<<16|1<<57), uint32(0), uint8(0), uint8(0))
	f.Add(uint8(3), uint8(2), uint64(0x2F1<<20), uint64(0x031)<<40, uint32(0), uint8(0), uint8(0))
	// Currency credit, EA11 CTSA20 step 15 (-1.82044E+14): field 0xBFFFF.
	f.Add(uint8(0), uint8(4), uint64(0xBFFFF), uint64(0), uint32(0x6D6F9B), uint8(0), uint8(4))
	f.Add(uint8(0), uint8(5), uint64(1), uint64(0), uint32(1<<24), uint8(16), uint8(1)) // invalid, raw
	ciphers := testCiphers(f)
	f.Fuzz(func(t *testing.T, kind, sub uint8, value, control uint64, tid uint32, rnd, flags uint8) {
		raw := flags&1 == 1
		c := ciphers[int(flags>>1)%len(ciphers)]
		tok, valid := buildToken(kind, sub, value, control, tid, rnd, raw)
		n, err := sts.Encode(tok, c.c)
		if !valid {
			if err == nil {
				t.Fatalf("Encode(%#v) accepted an invalid token: %s", tok, n)
			}
			if !errors.Is(err, sts.ErrRange) && !errors.Is(err, sts.ErrReserved) {
				t.Fatalf("Encode(%#v): %v, want ErrRange or ErrReserved", tok, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode(%#v): %v", tok, err)
		}
		got, err := sts.DecodeString(n.String(), c.c)
		if err != nil {
			t.Fatalf("%s: Decode(Encode(%#v) = %s): %v", c.name, tok, n, err)
		}
		if !reflect.DeepEqual(got, tok) {
			t.Fatalf("%s: Decode(Encode(%#v)) = %#v", c.name, tok, got)
		}
		if tok.Class() == sts.ClassTest {
			if clear, err := sts.Encode(tok, nil); err != nil || clear != n {
				t.Fatalf("test token under no key = %s, %v; under %s %s", clear, err, c.name, n)
			}
		}
	})
}

// buildToken makes a token from fuzz inputs and says, independently of the
// package, whether it is valid (notes §1.3/§1.4 field widths).
func buildToken(kind, sub uint8, value, control uint64, tid uint32, rnd uint8, raw bool) (sts.Token, bool) {
	s := sts.Subclass(sub % 16)
	switch kind % 4 {
	case 0:
		if !raw {
			s, tid, rnd = s%5, tid&sts.MaxTID, rnd&0xF
		}
		if s >= 4 && s <= 7 {
			if !raw {
				value &= 1<<20 - 1
			}
			a := sts.CurrencyAmount(value) // 32 bits of value
			return sts.CurrencyCredit{Sub: s, TID: tid, Amount: a},
				s == 4 && tid <= sts.MaxTID && a < 1<<20
		}
		return sts.Credit{Sub: s, TID: tid, RND: rnd, Amount: sts.Amount(value)},
			s <= 3 && tid <= sts.MaxTID && rnd <= 0xF
	case 1:
		if !raw {
			s = []sts.Subclass{0, 1, 2, 5, 6, 7}[sub%6]
			tid, rnd = tid&sts.MaxTID, rnd&0xF
		}
		okSub := s <= 7 && s != 3 && s != 4
		return sts.Management{Sub: s, TID: tid, RND: rnd, Value: uint16(value)},
			okSub && tid <= sts.MaxTID && rnd <= 0xF
	case 2:
		if !raw {
			s = s % 2
		}
		mfr := uint16(value)
		if !raw {
			if s == 0 {
				mfr, control = mfr%100, control&(1<<36-1)
			} else {
				mfr, control = mfr%10000, control&(1<<28-1)
			}
		}
		valid := s == 0 && mfr <= 99 && control < 1<<36 || s == 1 && mfr <= 9999 && control < 1<<28
		return sts.Test{Sub: s, MfrCode: mfr, Control: control}, valid
	}
	// Key change: the section-specific fields come from the bytes of
	// control; only the section's own fields are set.
	kt, krn, kenHigh := sts.KeyType(control), uint8(control>>8), uint8(control>>16)
	ti, kenLow, sgc := uint8(control>>24), uint8(control>>32), uint16(control>>40)
	rollover, threeTokens := control>>56&1 == 1, control>>57&1 == 1
	if !raw {
		s = []sts.Subclass{sts.DecoderKey1, sts.DecoderKey2, sts.DecoderKey3, sts.DecoderKey4}[sub%4]
		kt, krn, kenHigh, kenLow, sgc = kt&3, krn&0xF, kenHigh&0xF, kenLow&0xF, sgc&0xFFF
	}
	kc := sts.KeyChange{Sub: s, KeyPart: uint32(value)}
	switch s {
	case sts.DecoderKey1:
		kc.KeyType, kc.KRN, kc.KENHigh, kc.Rollover, kc.ThreeTokens = kt, krn, kenHigh, rollover, threeTokens
		return kc, kt <= 3 && krn <= 0xF && kenHigh <= 0xF
	case sts.DecoderKey2:
		kc.TI, kc.KENLow = ti, kenLow
		return kc, kenLow <= 0xF
	case sts.DecoderKey3, sts.DecoderKey4:
		kc.SGCPart = sgc
		return kc, sgc <= 0xFFF
	}
	return kc, false
}

// FuzzParsePAN: ParsePAN never panics, fails only with ErrRange or
// ErrCheckDigit, and what it accepts is an 18-digit PAN with two correct Luhn
// digits that NewPAN(IIN, DRN) rebuilds.
func FuzzParsePAN(f *testing.F) {
	addVectorSeeds(f, true)
	for _, s := range []string{
		"600727000000000009", "000001000000000082", "600727012345678977", "000001234123456703",
		"600727000000000008", "000012000000000000", "", "6007270000000000091", "60072700000000000a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := sts.ParsePAN(s)
		if err != nil {
			if !errors.Is(err, sts.ErrRange) && !errors.Is(err, sts.ErrCheckDigit) {
				t.Fatalf("ParsePAN(%q): unexpected error %v", s, err)
			}
			return
		}
		if p.String() != s || p.IsZero() {
			t.Fatalf("ParsePAN(%q).String() = %q", s, p)
		}
		iin, drn := p.IIN(), p.DRN()
		if !(iin == "0000" && len(drn) == 13 || len(iin) == 6 && iin[:4] != "0000" && len(drn) == 11) {
			t.Fatalf("ParsePAN(%q): IIN %q, DRN %q", s, iin, drn)
		}
		if iin+drn+s[17:] != s {
			t.Fatalf("ParsePAN(%q): IIN %q + DRN %q + check digit do not make the PAN", s, iin, drn)
		}
		if d, err := sts.LuhnDigit(s[:17]); err != nil || d != s[17] {
			t.Fatalf("ParsePAN(%q) accepted PAN check digit %c, Luhn gives %c", s, s[17], d)
		}
		if d, err := sts.LuhnDigit(drn[:len(drn)-1]); err != nil || d != drn[len(drn)-1] {
			t.Fatalf("ParsePAN(%q) accepted DRN check digit %c, Luhn gives %c", s, drn[len(drn)-1], d)
		}
		q, err := sts.NewPAN(iin, drn)
		if err != nil || q != p {
			t.Fatalf("NewPAN(%q, %q) = %s, %v; want %s", iin, drn, q, err, p)
		}
	})
}
