package sts

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/stskms/stskms/sts/misty1"
)

// internalMISTY1 is a MISTY1 cipher under the DKGA04 decoder key of vector
// NJ-STS_531_1_0_04_CTSA01-step1Test (testdata/tokens.json).
func internalMISTY1(t *testing.T) Cipher {
	t.Helper()
	key, _ := hex.DecodeString("f94b6ed353c3bfdb113e2d3a7ea3c41d")
	c, err := misty1.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// craft builds the token number of an arbitrary payload with a valid CRC,
// encrypted under c unless it is class 1.
func craft(c Cipher, class Class, payload uint64) Number {
	block := withCRC(class, payload)
	if class != ClassTest {
		block = c.Encrypt64(block)
	}
	return transpose(class, block)
}

func TestDecodeReserved(t *testing.T) {
	c := internalMISTY1(t)
	const fields = 0x5_123456_4001 // RND 5, TID 0x123456, field 0x4001 (by hand)
	tests := []struct {
		name    string
		class   Class
		payload uint64
	}{
		{"class 3 subclass 0", ClassReserved, fields},
		{"class 3 subclass 15", ClassReserved, 0xF<<44 | fields},
		{"class 3 all ones", ClassReserved, 1<<48 - 1},
		{"credit subclass 5", ClassCredit, 5<<44 | fields},
		{"credit subclass 15", ClassCredit, 0xF<<44 | fields},
		{"test subclass 2", ClassTest, 2<<44 | 0xFFFFFFFFF00},
		{"test subclass 15", ClassTest, 0xF<<44 | 0xFFFFFFFFF00},
		{"management subclass 10", ClassManagement, 10<<44 | fields},
		{"management subclass 15", ClassManagement, 0xF<<44 | fields},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := craft(c, tt.class, tt.payload)
			b, err := Open(n, c)
			if err != nil {
				t.Fatal(err)
			}
			if !b.CRCValid() || b.Class != tt.class || b.Bits>>16 != tt.payload {
				t.Fatalf("Open = %+v: crafted block did not survive", b)
			}
			if _, err := Decode(n, c); !errors.Is(err, ErrReserved) {
				t.Errorf("Decode: err = %v, want ErrReserved", err)
			}
			if _, err := DecodeString(n.String(), c); !errors.Is(err, ErrReserved) {
				t.Errorf("DecodeString: err = %v, want ErrReserved", err)
			}
		})
	}
}

func TestDecodeKeyChangeThreeTokensBit(t *testing.T) {
	// Bit 50 of the 1st section's data block ("3KCT", reserved in the
	// notes) is set in the three-token 64-bit set of STS 531-1-07 Ed. 2.2
	// CTSA05 step 4; it is payload bit 34.
	if keyChangeThreeTokensBit<<16 != 1<<50 {
		t.Fatalf("keyChangeThreeTokensBit is data block bit %#x, want bit 50", uint64(keyChangeThreeTokensBit)<<16)
	}
	c := internalMISTY1(t)
	first := KeyChange{Sub: DecoderKey1, KeyPart: 0xF94B6ED3, KeyType: DUTK, KRN: 1, KENHigh: 0xF}
	p, err := first.payload()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("clear", func(t *testing.T) {
		tok, err := Decode(craft(c, ClassManagement, p), c)
		if err != nil {
			t.Fatal(err)
		}
		if tok != first {
			t.Errorf("Decode = %+v, want %+v", tok, first)
		}
	})
	t.Run("set", func(t *testing.T) {
		tok, err := Decode(craft(c, ClassManagement, p|keyChangeThreeTokensBit), c)
		want := first
		want.ThreeTokens = true
		if err != nil || tok != want {
			t.Errorf("Decode = %+v, %v; want %+v", tok, err, want)
		}
		if q, err := want.payload(); err != nil || q != p|keyChangeThreeTokensBit {
			t.Errorf("payload = %#x, %v; want %#x", q, err, p|keyChangeThreeTokensBit)
		}
	})
	// Bit 50 is the flag only in the 1st section: in the 2nd it is TI bit 2.
	t.Run("2nd section TI bit", func(t *testing.T) {
		second := KeyChange{Sub: DecoderKey2, KeyPart: 1, TI: 4}
		p, err := second.payload()
		if err != nil || p&keyChangeThreeTokensBit == 0 {
			t.Fatalf("payload = %#x, %v", p, err)
		}
		tok, err := Decode(craft(c, ClassManagement, p), c)
		if err != nil || tok != second {
			t.Errorf("Decode = %+v, %v; want %+v", tok, err, second)
		}
	})
}

func TestDecodeTestMfrCodeOutOfRange(t *testing.T) {
	// A class 1 block whose 8-bit manufacturer code field is above 99 (or
	// 16-bit field above 9999) is not a valid decimal code (notes §1.4).
	tests := []struct {
		name    string
		payload uint64
	}{
		{"subclass 0 code 100", 100},
		{"subclass 0 code 255", 255},
		{"subclass 1 code 10000", 1<<44 | 10000},
		{"subclass 1 code 65535", 1<<44 | 0xFFFF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(craft(nil, ClassTest, tt.payload), nil); !errors.Is(err, ErrRange) {
				t.Errorf("err = %v, want ErrRange", err)
			}
		})
	}
}
