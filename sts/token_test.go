package sts_test

import (
	"crypto/des"
	"encoding/binary"
	"errors"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/misty1"
	"github.com/stskms/stskms/sts/sta"
)

func TestEncodeErrors(t *testing.T) {
	c := mustCipher(t, sts.EA11, misty1KeyHex)
	tests := []struct {
		name string
		tok  sts.Token
		c    sts.Cipher
		want error
	}{
		{"credit TID 2^24", sts.Credit{TID: sts.MaxTID + 1}, c, sts.ErrRange},
		{"credit TID max uint32", sts.Credit{TID: 1<<32 - 1}, c, sts.ErrRange},
		{"credit RND 16", sts.Credit{RND: 16}, c, sts.ErrRange},
		{"credit subclass 4 is currency", sts.Credit{Sub: sts.ElectricityCurrency, Amount: 1}, c, sts.ErrReserved},
		{"credit subclass 5", sts.Credit{Sub: 5}, c, sts.ErrReserved},
		{"credit subclass 15", sts.Credit{Sub: 15}, c, sts.ErrReserved},
		{"currency subclass 0", sts.CurrencyCredit{Sub: sts.Electricity, Amount: 1}, c, sts.ErrReserved},
		{"currency subclass 3", sts.CurrencyCredit{Sub: sts.ConnectionTime}, c, sts.ErrReserved},
		{"currency subclass 5 (water currency)", sts.CurrencyCredit{Sub: 5}, c, sts.ErrReserved},
		{"currency subclass 7 (time currency)", sts.CurrencyCredit{Sub: 7}, c, sts.ErrReserved},
		{"currency subclass 15", sts.CurrencyCredit{Sub: 15}, c, sts.ErrReserved},
		{"currency amount 21 bits", sts.CurrencyCredit{Sub: sts.ElectricityCurrency, Amount: 1 << 20}, c, sts.ErrRange},
		{"currency TID 2^24", sts.CurrencyCredit{Sub: sts.ElectricityCurrency, TID: sts.MaxTID + 1}, c, sts.ErrRange},
		{"management TID 2^24", sts.Management{Sub: sts.ClearCredit, TID: 1 << 24}, c, sts.ErrRange},
		{"management RND 16", sts.Management{Sub: sts.ClearCredit, RND: 16}, c, sts.ErrRange},
		{"management 1st key section", sts.Management{Sub: sts.DecoderKey1}, c, sts.ErrReserved},
		{"management 2nd key section", sts.Management{Sub: sts.DecoderKey2}, c, sts.ErrReserved},
		{"management 3rd key section", sts.Management{Sub: sts.DecoderKey3}, c, sts.ErrReserved},
		{"management 4th key section", sts.Management{Sub: sts.DecoderKey4}, c, sts.ErrReserved},
		{"management subclass 10", sts.Management{Sub: 10}, c, sts.ErrReserved},
		{"test 1 mfr code 100", sts.Test{Sub: sts.TestDisplay1, MfrCode: 100}, nil, sts.ErrRange},
		{"test 2 mfr code 10000", sts.Test{Sub: sts.TestDisplay2, MfrCode: 10000}, nil, sts.ErrRange},
		{"test 1 control 37 bits", sts.Test{Sub: sts.TestDisplay1, Control: 1 << 36}, nil, sts.ErrRange},
		{"test 2 control 29 bits", sts.Test{Sub: sts.TestDisplay2, Control: 1 << 28}, nil, sts.ErrRange},
		{"test subclass 2", sts.Test{Sub: 2}, nil, sts.ErrReserved},
		{"key change subclass 0", sts.KeyChange{Sub: 0}, c, sts.ErrReserved},
		{"key change subclass 5", sts.KeyChange{Sub: 5}, c, sts.ErrReserved},
		{"1st section key type 4", sts.KeyChange{Sub: sts.DecoderKey1, KeyType: 4}, c, sts.ErrRange},
		{"1st section KRN 16", sts.KeyChange{Sub: sts.DecoderKey1, KRN: 16}, c, sts.ErrRange},
		{"1st section KEN high 16", sts.KeyChange{Sub: sts.DecoderKey1, KENHigh: 16}, c, sts.ErrRange},
		{"2nd section KEN low 16", sts.KeyChange{Sub: sts.DecoderKey2, KENLow: 16}, c, sts.ErrRange},
		{"3rd section SGC part 13 bits", sts.KeyChange{Sub: sts.DecoderKey3, SGCPart: 0x1000}, c, sts.ErrRange},
		{"4th section SGC part 13 bits", sts.KeyChange{Sub: sts.DecoderKey4, SGCPart: 0xFFFF}, c, sts.ErrRange},
		{"credit without key", sts.Credit{Amount: 1}, nil, sts.ErrNoKey},
		{"currency credit without key", sts.CurrencyCredit{Sub: sts.ElectricityCurrency, Amount: 1}, nil, sts.ErrNoKey},
		{"management without key", sts.Management{Sub: sts.ClearTamper}, nil, sts.ErrNoKey},
		{"key change without key", sts.KeyChange{Sub: sts.DecoderKey2}, nil, sts.ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := sts.Encode(tt.tok, tt.c)
			if !errors.Is(err, tt.want) {
				t.Errorf("Encode = %s, %v; want %v", n, err, tt.want)
			}
		})
	}
}

func TestEncodeDecodeLimits(t *testing.T) {
	// The largest value of every field is accepted and comes back.
	tests := []struct {
		name string
		tok  sts.Token
	}{
		{"credit max fields", sts.Credit{Sub: sts.ConnectionTime, TID: sts.MaxTID, RND: 15, Amount: 0xFFFF}},
		{"credit zero", sts.Credit{}},
		{"currency credit max fields", sts.CurrencyCredit{Sub: sts.ElectricityCurrency, TID: sts.MaxTID, Amount: 1<<20 - 1}},
		{"currency credit zero", sts.CurrencyCredit{Sub: sts.ElectricityCurrency}},
		{"currency credit negative zero", sts.CurrencyCredit{Sub: sts.ElectricityCurrency, Amount: 1 << 19}},
		{"management max fields", sts.Management{Sub: sts.WaterMeterFactor, TID: sts.MaxTID, RND: 15, Value: 0xFFFF}},
		{"test 1 max fields", sts.Test{Sub: sts.TestDisplay1, MfrCode: 99, Control: 1<<36 - 1}},
		{"test 2 max fields", sts.Test{Sub: sts.TestDisplay2, MfrCode: 9999, Control: 1<<28 - 1}},
		{"1st section max fields", sts.KeyChange{Sub: sts.DecoderKey1, KeyPart: 1<<32 - 1, KeyType: sts.DCTK, Rollover: true, KRN: 15, KENHigh: 15}},
		{"2nd section max fields", sts.KeyChange{Sub: sts.DecoderKey2, KeyPart: 1<<32 - 1, TI: 255, KENLow: 15}},
		{"3rd section max fields", sts.KeyChange{Sub: sts.DecoderKey3, KeyPart: 1<<32 - 1, SGCPart: 0xFFF}},
		{"4th section max fields", sts.KeyChange{Sub: sts.DecoderKey4, KeyPart: 1<<32 - 1, SGCPart: 0xFFF}},
	}
	for _, cc := range testCiphers(t) {
		for _, tt := range tests {
			t.Run(cc.name+"/"+tt.name, func(t *testing.T) {
				n, err := sts.Encode(tt.tok, cc.c)
				if err != nil {
					t.Fatal(err)
				}
				got, err := sts.DecodeString(n.String(), cc.c)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.tok) {
					t.Errorf("decoded %#v, want %#v", got, tt.tok)
				}
			})
		}
	}
}

func TestTestTokensNeedNoKey(t *testing.T) {
	// Class 1 tokens are sent in clear (notes §1.5): the same digits with
	// any cipher or none. 56493153725450313471 is the NJ CTSA02 vector
	// (mfr code 0, all-ones control; sts-token-check.py check_class1).
	tok := sts.Test{Sub: sts.TestDisplay1, MfrCode: 0, Control: 1<<36 - 1}
	for _, c := range []sts.Cipher{nil, mustCipher(t, sts.EA11, misty1KeyHex), mustCipher(t, sts.EA09, des64KeyHex)} {
		n, err := sts.Encode(tok, c)
		if err != nil {
			t.Fatal(err)
		}
		if n.String() != "56493153725450313471" {
			t.Errorf("Encode = %s, want 56493153725450313471", n)
		}
		got, err := sts.Decode(n, c)
		if err != nil || got != tok {
			t.Errorf("Decode = %#v, %v", got, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	c := mustCipher(t, sts.EA11, misty1KeyHex)
	other := mustCipher(t, sts.EA11, otherMISTY1KeyHex)
	credit, err := sts.Encode(sts.Credit{TID: 5871660, RND: 5, Amount: 1}, c)
	if err != nil {
		t.Fatal(err)
	}
	// A vector token (class 0, NJ-STS_531_1_0_04_CTSA01-step1Test) with
	// its last digit changed: 59386323472137426967 → …6968.
	mistyped := mustParseNumber(t, "59386323472137426968")
	tests := []struct {
		name string
		n    sts.Number
		c    sts.Cipher
		want error
	}{
		{"another meter's key", credit, other, sts.ErrCRC},
		{"another algorithm", credit, mustCipher(t, sts.EA09, des64KeyHex), sts.ErrCRC},
		{"mistyped digit", mistyped, c, sts.ErrCRC},
		{"no key for class 0", credit, nil, sts.ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := sts.Decode(tt.n, tt.c); !errors.Is(err, tt.want) {
				t.Errorf("Decode = %#v, %v; want %v", tok, err, tt.want)
			}
		})
	}
	// The vector itself decodes.
	if _, err := sts.DecodeString("59386323472137426967", c); err != nil {
		t.Errorf("vector: %v", err)
	}
}

func TestOpen(t *testing.T) {
	c := mustCipher(t, sts.EA11, misty1KeyHex)
	tok := sts.Management{Sub: sts.ClearCredit, TID: 5871660, RND: 5, Value: 0xFFFF}
	n, err := sts.Encode(tok, c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sts.Open(n, c)
	if err != nil {
		t.Fatal(err)
	}
	// By hand from notes §1.4: value 16..31, TID 32..55, RND 56..59, subclass 60..63.
	const want = 0x1_5_59982C_FFFF // TID 5871660 = 0x59982C
	if b.Class != sts.ClassManagement || b.Bits>>16 != want || !b.CRCValid() || b.Subclass() != sts.ClearCredit {
		t.Errorf("Open = {%d %#016x}, CRC valid %v; want payload %#012x", b.Class, b.Bits, b.CRCValid(), uint64(want))
	}
	b.Bits ^= 1 << 40
	if b.CRCValid() {
		t.Error("CRCValid after flipping a payload bit")
	}
}

func TestEA09(t *testing.T) {
	// DES known answer: key 133457799BBCDFF1, plaintext 0123456789ABCDEF →
	// 85E813540F0AB405 (J. Orlin Grabbe, "The DES Algorithm Illustrated").
	t.Run("known answer", func(t *testing.T) {
		c := mustCipher(t, sts.EA09, "133457799bbcdff1")
		if got := c.Encrypt64(0x0123456789ABCDEF); got != 0x85E813540F0AB405 {
			t.Errorf("Encrypt64 = %#016x, want 0x85e813540f0ab405", got)
		}
		if got := c.Decrypt64(0x85E813540F0AB405); got != 0x0123456789ABCDEF {
			t.Errorf("Decrypt64 = %#016x, want 0x0123456789abcdef", got)
		}
	})
	t.Run("crypto/des on big-endian bytes", func(t *testing.T) {
		key := testvec.Hex(t, des64KeyHex)
		c := mustCipher(t, sts.EA09, des64KeyHex)
		ref, err := des.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(7, 8))
		var buf [8]byte
		for range 1000 {
			v := r.Uint64()
			binary.BigEndian.PutUint64(buf[:], v)
			ref.Encrypt(buf[:], buf[:])
			want := binary.BigEndian.Uint64(buf[:])
			if got := c.Encrypt64(v); got != want {
				t.Fatalf("Encrypt64(%#016x) = %#016x, crypto/des gives %#016x", v, got, want)
			}
			if got := c.Decrypt64(want); got != v {
				t.Fatalf("Decrypt64(%#016x) = %#016x, want %#016x", want, got, v)
			}
		}
	})
	t.Run("parity bits ignored", func(t *testing.T) {
		// Flipping the low (parity) bit of every key byte gives the same
		// cipher (FIPS 46).
		key := testvec.Hex(t, des64KeyHex)
		for i := range key {
			key[i] ^= 1
		}
		a := mustCipher(t, sts.EA09, des64KeyHex)
		b, err := sts.NewCipher(sts.EA09, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Encrypt64(42) != b.Encrypt64(42) {
			t.Error("parity bits change the cipher")
		}
	})
	t.Run("tokens", func(t *testing.T) {
		c := mustCipher(t, sts.EA09, des64KeyHex)
		for _, tok := range []sts.Token{
			sts.Credit{Sub: sts.Electricity, TID: 5871715, RND: 5, Amount: 0x7FEA},
			sts.Management{Sub: sts.MaximumPowerLimit, TID: 5871715, RND: 3, Value: 1000},
			sts.KeyChange{Sub: sts.DecoderKey1, KeyPart: 0xE653341F, KeyType: sts.DUTK, KRN: 2, KENHigh: 0xF},
			sts.KeyChange{Sub: sts.DecoderKey2, KeyPart: 0x9D5BF36F, TI: 1, KENLow: 0xF},
		} {
			n, err := sts.Encode(tok, c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sts.DecodeString(n.String(), c)
			if err != nil || !reflect.DeepEqual(got, tok) {
				t.Errorf("%#v: decoded %#v, %v", tok, got, err)
			}
		}
	})
}

func TestNewCipher(t *testing.T) {
	k8, k16 := testvec.Hex(t, des64KeyHex), testvec.Hex(t, misty1KeyHex)
	t.Run("EA11 is MISTY1", func(t *testing.T) {
		c, err := sts.NewCipher(sts.EA11, k16, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := misty1.New(k16)
		if _, ok := c.(*misty1.Cipher); !ok || c.Encrypt64(1) != ref.Encrypt64(1) {
			t.Errorf("NewCipher(EA11) = %T", c)
		}
	})
	t.Run("EA07 is STA", func(t *testing.T) {
		c, err := sts.NewCipher(sts.EA07, k8, sta.TestTables())
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := sta.TestTables().NewCipher(k8)
		if _, ok := c.(*sta.Cipher); !ok || c.Encrypt64(1) != ref.Encrypt64(1) {
			t.Errorf("NewCipher(EA07) = %T", c)
		}
	})
	tests := []struct {
		name   string
		ea     sts.EA
		key    []byte
		tables *sta.Tables
		want   error
	}{
		{"EA07 7-byte key", sts.EA07, k8[:7], sta.TestTables(), sts.ErrKey},
		{"EA07 16-byte key", sts.EA07, k16, sta.TestTables(), sts.ErrKey},
		{"EA07 without tables", sts.EA07, k8, nil, sts.ErrKey},
		{"EA09 16-byte key", sts.EA09, k16, nil, sts.ErrKey},
		{"EA09 no key", sts.EA09, nil, nil, sts.ErrKey},
		{"EA11 8-byte key", sts.EA11, k8, nil, sts.ErrKey},
		{"EA11 17-byte key", sts.EA11, append(k16, 0), nil, sts.ErrKey},
		{"unknown EA 0", 0, k8, nil, sts.ErrRange},
		{"unknown EA 8", 8, k8, nil, sts.ErrRange},
		{"unknown EA 10", 10, k16, nil, sts.ErrRange},
		{"unknown EA 12", 12, k16, nil, sts.ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := sts.NewCipher(tt.ea, tt.key, tt.tables); !errors.Is(err, tt.want) {
				t.Errorf("NewCipher = %T, %v; want %v", c, err, tt.want)
			}
		})
	}
}

func TestEA(t *testing.T) {
	// Codes from notes §5: STA "07", DEA "09", MISTY1 "11".
	tests := []struct {
		in      []string
		ea      sts.EA
		code    string
		keySize int
	}{
		{[]string{"07", "7"}, sts.EA07, "07", 8},
		{[]string{"09", "9"}, sts.EA09, "09", 8},
		{[]string{"11"}, sts.EA11, "11", 16},
	}
	for _, tt := range tests {
		for _, in := range tt.in {
			if got, err := sts.ParseEA(in); err != nil || got != tt.ea {
				t.Errorf("ParseEA(%q) = %d, %v; want %d", in, got, err, tt.ea)
			}
		}
		if got := tt.ea.String(); got != tt.code {
			t.Errorf("EA(%d).String() = %q, want %q", uint8(tt.ea), got, tt.code)
		}
		if got := tt.ea.KeySize(); got != tt.keySize {
			t.Errorf("EA%s.KeySize() = %d, want %d", tt.ea, got, tt.keySize)
		}
	}
	for _, in := range []string{"", "0", "00", "08", "10", "011", "STA", " 7"} {
		if got, err := sts.ParseEA(in); !errors.Is(err, sts.ErrRange) {
			t.Errorf("ParseEA(%q) = %d, %v; want ErrRange", in, got, err)
		}
	}
	for _, ea := range []sts.EA{0, 8, 10, 12, 255} {
		if ea.KeySize() != 0 {
			t.Errorf("EA(%d).KeySize() = %d, want 0", uint8(ea), ea.KeySize())
		}
	}
}

func TestSubclassName(t *testing.T) {
	// Names of the class/subclass pairs of notes §1.3.
	defined := map[sts.Class][]string{
		sts.ClassCredit: {"electricity", "water", "gas", "connection time", "electricity currency"},
		sts.ClassTest:   {"initiate meter test/display 1", "initiate meter test/display 2"},
		sts.ClassManagement: {
			"set maximum power limit", "clear credit", "set tariff rate",
			"set 1st section decoder key", "set 2nd section decoder key", "clear tamper condition",
			"set maximum phase power unbalance limit", "set water meter factor",
			"set 3rd section decoder key", "set 4th section decoder key",
		},
	}
	for class := range sts.Class(4) {
		for sub := range sts.Subclass(16) {
			name, err := sts.SubclassName(class, sub)
			names := defined[class]
			if int(sub) < len(names) {
				if err != nil || name != names[sub] {
					t.Errorf("SubclassName(%d, %d) = %q, %v; want %q", class, sub, name, err, names[sub])
				}
				continue
			}
			if !errors.Is(err, sts.ErrReserved) {
				t.Errorf("SubclassName(%d, %d) = %q, %v; want ErrReserved", class, sub, name, err)
			}
		}
	}
	if _, err := sts.SubclassName(4, 0); !errors.Is(err, sts.ErrReserved) {
		t.Errorf("SubclassName(4, 0): err = %v, want ErrReserved", err)
	}
	// The named constants sit at the positions notes §1.3 gives.
	consts := []struct {
		class sts.Class
		sub   sts.Subclass
		want  uint8
	}{
		{sts.ClassCredit, sts.ElectricityCurrency, 4},
		{sts.ClassTest, sts.TestDisplay2, 1},
		{sts.ClassManagement, sts.DecoderKey1, 3},
		{sts.ClassManagement, sts.DecoderKey2, 4},
		{sts.ClassManagement, sts.ClearTamper, 5},
		{sts.ClassManagement, sts.MaximumPhasePowerUnbalanceLimit, 6},
		{sts.ClassManagement, sts.WaterMeterFactor, 7},
		{sts.ClassManagement, sts.DecoderKey3, 8},
		{sts.ClassManagement, sts.DecoderKey4, 9},
	}
	for _, c := range consts {
		if uint8(c.sub) != c.want {
			t.Errorf("class %d subclass constant = %d, want %d", c.class, c.sub, c.want)
		}
	}
}

func TestStringers(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{sts.ClassCredit.String(), "credit"},
		{sts.ClassTest.String(), "test"},
		{sts.ClassManagement.String(), "management"},
		{sts.ClassReserved.String(), "reserved class 3"},
		{sts.DITK.String(), "DITK"},
		{sts.DDTK.String(), "DDTK"},
		{sts.DUTK.String(), "DUTK"},
		{sts.DCTK.String(), "DCTK"},
		{sts.KeyType(4).String(), "KeyType(4)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

func bigInt(tb testing.TB, s string) *big.Int {
	tb.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		tb.Fatalf("bad integer %q", s)
	}
	return v
}

// TestEncodeCurrencyAmount: values in 0.00001 currency units. The Ed. 2.2
// rows are the CTSA20 amounts (currency units × 10^5) with the fields
// their tokens carry (testdata/extra/tokens-ed22.json).
func TestEncodeCurrencyAmount(t *testing.T) {
	const neg = 1 << 19
	field := func(e, m uint32) sts.CurrencyAmount { return sts.CurrencyAmount(e<<14 | m) }
	max := "182034444444444444444444444444442624" // 16383·10^31 + 2^14·(10^31 − 1)/9
	tests := []struct {
		name  string
		value string
		want  sts.CurrencyAmount
	}{
		{"zero", "0", 0},
		{"one unit", "1", field(0, 1)},
		{"Ed2.2 1", "100000", field(1, 8362)},
		{"Ed2.2 16383", "1638300000", field(5, 14563)},
		{"Ed2.2 16384", "1638400000", field(5, 14564)},
		{"Ed2.2 180224", "18022400000", field(6, 16202)},
		{"Ed2.2 1818624", "181862400000", field(7, 16366)},
		{"Ed2.2 18202624", "1820262400000", field(8, 16383)},
		{"Ed2.2 182042624", "18204262400000", field(10, 0)},
		{"Ed2.2 1820442624", "182044262400000", field(11, 0)},
		{"Ed2.2 18204442624", "1820444262400000", field(12, 0)},
		{"Ed2.2 1.82044E+14", "18204400000000000000", field(16, 0)},
		{"Ed2.2 1.82044E+20", "18204400000000000000000000", field(22, 0)},
		{"Ed2.2 1.82044E+29", "18204400000000000000000000000000000", field(31, 0)},
		{"Ed2.2 -1", "-100000", neg | field(1, 8361)},
		{"Ed2.2 -180224", "-18022400000", neg | field(6, 16201)},
		{"Ed2.2 -1.82044E+14", "-18204400000000000000", neg | field(15, 16383)},
		{"exact range start", "16384", field(1, 0)},
		{"exact range end", "180214", field(1, 16383)},
		{"gap, credit rounds up", "180215", field(2, 0)},
		{"gap, debit rounds to smaller magnitude", "-180215", neg | field(1, 16383)},
		{"largest", max, field(31, 16383)},
		{"largest debit", "-" + max, neg | field(31, 16383)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := bigInt(t, tt.value)
			got, err := sts.EncodeCurrencyAmount(v)
			if err != nil || got != tt.want {
				t.Fatalf("EncodeCurrencyAmount(%s) = %#05x, %v; want %#05x", v, uint32(got), err, uint32(tt.want))
			}
			// Rounding is towards +∞ and to the nearest field that way.
			if got.Value().Cmp(v) < 0 {
				t.Errorf("value %s below %s", got.Value(), v)
			}
			if got.Negative() != (v.Sign() < 0) || got.Exponent() != int(tt.want>>14&31) || got.Mantissa() != uint16(tt.want&0x3FFF) {
				t.Errorf("fields: negative %v, exponent %d, mantissa %d", got.Negative(), got.Exponent(), got.Mantissa())
			}
		})
	}
	for _, s := range []string{"182034444444444444444444444444442625", "-182034444444444444444444444444442625", "1" + max} {
		if a, err := sts.EncodeCurrencyAmount(bigInt(t, s)); !errors.Is(err, sts.ErrAmountTooLarge) {
			t.Errorf("EncodeCurrencyAmount(%s) = %#05x, %v; want ErrAmountTooLarge", s, uint32(a), err)
		}
	}
}

// TestCurrencyAmountFields: every field except negative zero comes back
// from its value, and the positive fields of exponents 0..3 have the value
// of the same Amount field.
func TestCurrencyAmountFields(t *testing.T) {
	for a := range sts.CurrencyAmount(1 << 20) {
		if a < 1<<16 && a.Value().Uint64() != sts.Amount(a).Value() {
			t.Fatalf("field %#05x: value %s, Amount value %d", uint32(a), a.Value(), sts.Amount(a).Value())
		}
		if a&0x7FFF != 0 && a%97 != 0 { // a sample keeps the test fast
			continue
		}
		want := a
		if a == 1<<19 {
			want = 0 // −0 encodes as 0
		}
		if got, err := sts.EncodeCurrencyAmount(a.Value()); err != nil || got != want {
			t.Fatalf("EncodeCurrencyAmount(%s) = %#05x, %v; want %#05x", a.Value(), uint32(got), err, uint32(want))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		a := sts.CurrencyAmount(r.UintN(1 << 20))
		if a == 1<<19 {
			continue
		}
		if got, err := sts.EncodeCurrencyAmount(a.Value()); err != nil || got != a {
			t.Fatalf("EncodeCurrencyAmount(%s) = %#05x, %v; want %#05x", a.Value(), uint32(got), err, uint32(a))
		}
		// One unit more is the next field up (or the same field rounded up).
		next := new(big.Int).Add(a.Value(), big.NewInt(1))
		if got, err := sts.EncodeCurrencyAmount(next); err == nil && got.Value().Cmp(next) < 0 {
			t.Fatalf("EncodeCurrencyAmount(%s) = %s, below", next, got.Value())
		}
	}
}

// TestCurrencyCredit: a currency credit token holds its CurrencyAmount in
// the RND and amount positions, takes CRC_C and decodes back as a
// CurrencyCredit.
func TestCurrencyCredit(t *testing.T) {
	a := sts.CurrencyAmount(1<<19 | 15<<14 | 16383)
	tok := sts.CurrencyCredit{Sub: sts.ElectricityCurrency, TID: 0x6D6F9B, Amount: a}
	if tok.Class() != sts.ClassCredit || tok.Subclass() != sts.ElectricityCurrency {
		t.Errorf("class %d subclass %d", tok.Class(), tok.Subclass())
	}
	for _, cc := range testCiphers(t) {
		n, err := tok.Encode(cc.c)
		if err != nil {
			t.Fatal(err)
		}
		if boxed, err := sts.Encode(tok, cc.c); err != nil || boxed != n {
			t.Errorf("%s: Encode = %s, %v; method gives %s", cc.name, boxed, err, n)
		}
		b, err := sts.Open(n, cc.c)
		if err != nil {
			t.Fatal(err)
		}
		if b.Bits>>16 != 0x4B6D6F9BFFFF || !b.CRCValid() {
			t.Errorf("%s: block %#016x, CRC valid %v", cc.name, b.Bits, b.CRCValid())
		}
		// The block of EA11 CTSA20 step 15 (-1.82044E+14): CRC_C 0xF89F.
		if uint16(b.Bits) != 0xF89F {
			t.Errorf("%s: CRC field %#04x, want 0xF89F", cc.name, uint16(b.Bits))
		}
		got, err := sts.Decode(n, cc.c)
		if err != nil || got != tok {
			t.Errorf("%s: Decode = %+v, %v; want %+v", cc.name, got, err, tok)
		}
	}
	// Subclass 4 never decodes as a Credit, whatever its field.
	c := mustCipher(t, sts.EA11, misty1KeyHex)
	n, err := sts.Seal(sts.NewBlock(sts.ClassCredit, 4<<44|5<<40|200<<16|1), c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sts.Decode(n, c)
	if want := (sts.CurrencyCredit{Sub: sts.ElectricityCurrency, TID: 200, Amount: 5<<16 | 1}); err != nil || got != want {
		t.Errorf("Decode = %#v, %v; want %#v", got, err, want)
	}
}

func TestParseCurrency(t *testing.T) {
	tests := []struct {
		in, want string // want in units of 0.00001
	}{
		{"0", "0"},
		{"-0", "0"},
		{"1", "100000"},
		{"12.34567", "1234567"},
		{"-12.34567", "-1234567"},
		{"0.5", "50000"},
		{".5", "50000"},
		{"5.", "500000"},
		{"-.00001", "-1"},
		{"007.10", "710000"},
		{"12.345670000", "1234567"}, // zeros beyond the fifth decimal are exact
		{"12.345671", "1234568"},    // a credit rounds up
		{"0.000000001", "1"},        // …to the next unit
		{"-12.345679", "-1234567"},  // a debit rounds towards zero (+∞)
		{"-0.000009", "0"},          // …possibly to zero
		{"1820344444444444444444444444444.42624", "182034444444444444444444444444442624"}, // the largest currency amount
	}
	for _, tt := range tests {
		got, err := sts.ParseCurrency(tt.in)
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseCurrency(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "-", ".", "-.", "+1", "1e5", "1.82044E+14", " 1", "1 ", "1,5", "1.2.3", "--1", "0x10", "١"} {
		if got, err := sts.ParseCurrency(in); !errors.Is(err, sts.ErrRange) {
			t.Errorf("ParseCurrency(%q) = %v, %v; want ErrRange", in, got, err)
		}
	}
	long := strings.Repeat("9", 65)
	if got, err := sts.ParseCurrency(long); !errors.Is(err, sts.ErrAmountTooLarge) {
		t.Errorf("ParseCurrency(65 digits) = %v, %v; want ErrAmountTooLarge", got, err)
	}
	if got, err := sts.ParseCurrency("000" + long[1:]); err != nil || got.Cmp(bigInt(t, long[1:]+"00000")) != 0 {
		t.Errorf("ParseCurrency(64 digits, leading zeros) = %v, %v", got, err)
	}
}

func TestFormatCurrency(t *testing.T) {
	tests := []struct {
		units, want string
	}{
		{"0", "0.00000"},
		{"1", "0.00001"},
		{"-1", "-0.00001"},
		{"99999", "0.99999"},
		{"100000", "1.00000"},
		{"1234567", "12.34567"},
		{"-99994", "-0.99994"},
		{"18204400000000000000000000000000000", "182044000000000000000000000000.00000"},
	}
	for _, tt := range tests {
		v := bigInt(t, tt.units)
		if got := sts.FormatCurrency(v); got != tt.want {
			t.Errorf("FormatCurrency(%s) = %q, want %q", v, got, tt.want)
		}
		if back, err := sts.ParseCurrency(tt.want); err != nil || back.Cmp(v) != 0 {
			t.Errorf("ParseCurrency(%q) = %v, %v; want %s", tt.want, back, err, v)
		}
	}
	// CurrencyAmount.String is the formatted value (Ed. 2.2 CTSA20: 1 →
	// 1.00004, −1 → −0.99994); −0 prints as 0.
	for a, want := range map[sts.CurrencyAmount]string{
		1<<14 | 8362: "1.00004", 1<<19 | 1<<14 | 8361: "-0.99994", 1 << 19: "0.00000", 1: "0.00001",
	} {
		if got := a.String(); got != want {
			t.Errorf("CurrencyAmount(%#05x).String() = %q, want %q", uint32(a), got, want)
		}
	}
}
