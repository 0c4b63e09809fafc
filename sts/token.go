package sts

import (
	"fmt"
	"math/big"
)

// Token is the content of one STS token. Credit, Management, Test and
// KeyChange are the Tokens; Decode returns one of them.
type Token interface {
	Class() Class
	Subclass() Subclass
	// payload returns data block bits 16..63 (subclass included), or an
	// error if a field is out of range.
	payload() (uint64, error)
}

// Encode builds the token's data block with its CRC, encrypts it under c
// (class 1 tokens are not encrypted and take a nil c) and transposes the
// class bits into the 66-bit token number. Each token type also has an
// Encode method, which avoids boxing the token on hot paths.
func Encode(t Token, c Cipher) (Number, error) {
	p, err := t.payload()
	return encode(t.Class(), p, err, c)
}

func encode(class Class, payload uint64, err error, c Cipher) (Number, error) {
	if err != nil {
		return Number{}, err
	}
	return Seal(NewBlock(class, payload), c)
}

// Seal is the inverse of Open: it encrypts a data block under c (class 1
// blocks are not encrypted) and transposes the class bits into the token
// number. It does not check the block; Encode builds valid ones.
func Seal(b Block, c Cipher) (Number, error) {
	block := b.Bits
	if b.Class != ClassTest {
		if c == nil {
			return Number{}, fmt.Errorf("%w: class %d tokens are encrypted", ErrNoKey, b.Class)
		}
		block = c.Encrypt64(block)
	}
	return transpose(b.Class, block), nil
}

// Block is a token's 64-bit data block after decryption, with its class.
type Block struct {
	Class Class
	Bits  uint64
}

// Open recovers the data block of a token number: it removes the class-bit
// transposition and decrypts under c (class 1 needs no key). It does not
// check the CRC; see Block.CRCValid and Decode.
func Open(n Number, c Cipher) (Block, error) {
	class, block := n.untranspose()
	if class == ClassTest {
		return Block{Class: class, Bits: block}, nil
	}
	if c == nil {
		return Block{}, fmt.Errorf("%w: class %d tokens are encrypted", ErrNoKey, class)
	}
	return Block{Class: class, Bits: c.Decrypt64(block)}, nil
}

// NewBlock returns the data block of a 48-bit payload (data block bits
// 16..63, subclass included) with its CRC. It checks nothing else: with
// Seal it makes tokens of any class and subclass, reserved ones too, for
// testing decoders.
func NewBlock(class Class, payload uint64) Block {
	return Block{Class: class & 3, Bits: withCRC(class&3, payload&(1<<48-1))}
}

// CRCValid reports whether the block's CRC field matches its contents.
func (b Block) CRCValid() bool {
	return uint16(b.Bits) == checksum(b.Class, b.Bits>>16)
}

// Subclass returns the subclass field (bits 60..63).
func (b Block) Subclass() Subclass { return Subclass(b.Bits >> 60) }

// Token parses the fields of the block. It checks the class, subclass and
// field ranges but not the CRC.
func (b Block) Token() (Token, error) {
	p := b.Bits >> 16
	sub := b.Subclass()
	if _, err := SubclassName(b.Class, sub); err != nil {
		return nil, err
	}
	var t Token
	switch {
	case b.Class == ClassCredit:
		t = Credit{Sub: sub, TID: tidField(p), RND: rndField(p), Amount: Amount(p)}
	case b.Class == ClassTest:
		t = parseTest(sub, p)
	case isKeyChange(sub):
		kc, err := parseKeyChange(sub, p)
		if err != nil {
			return nil, err
		}
		t = kc
	default:
		t = Management{Sub: sub, TID: tidField(p), RND: rndField(p), Value: uint16(p)}
	}
	if _, err := t.payload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Decode opens a token number under c, checks its CRC and parses it.
func Decode(n Number, c Cipher) (Token, error) {
	b, err := Open(n, c)
	if err != nil {
		return nil, err
	}
	if !b.CRCValid() {
		return nil, ErrCRC
	}
	return b.Token()
}

// DecodeString parses 20 digits and decodes them under c.
func DecodeString(digits string, c Cipher) (Token, error) {
	n, err := ParseNumber(digits)
	if err != nil {
		return nil, err
	}
	return Decode(n, c)
}

func tidField(p uint64) uint32 { return uint32(p>>16) & MaxTID }
func rndField(p uint64) uint8  { return uint8(p>>40) & 0xF }

// Credit is a class 0 transfer-credit token.
//
// An ElectricityCurrency token has no RND and no Amount of its own: the
// 20-bit CurrencyAmount takes both places (Currency and NewCurrencyCredit
// convert), and the token carries CRC_C instead of the ordinary CRC
// (docs/tokens.md §3, §5).
type Credit struct {
	Sub    Subclass // Electricity, Water, Gas, ConnectionTime or ElectricityCurrency
	TID    uint32   // minutes since the meter's base date
	RND    uint8    // 4-bit random number; for currency, CurrencyAmount bits 19..16
	Amount Amount   // in tenths of the subclass's unit; for currency, CurrencyAmount bits 15..0
}

// NewCurrencyCredit returns the currency credit token of subclass sub
// (ElectricityCurrency; the other currency subclasses, 5..7, are reserved
// for Encode) carrying a: its bits 19..16 go into RND, bits 15..0 into
// Amount. Bits of a above 19 are ignored.
func NewCurrencyCredit(sub Subclass, tid uint32, a CurrencyAmount) Credit {
	return Credit{Sub: sub, TID: tid, RND: uint8(a>>16) & 0xF, Amount: Amount(a)}
}

// Currency reads a currency credit token's RND and Amount as the one
// CurrencyAmount they hold.
func (t Credit) Currency() CurrencyAmount {
	return CurrencyAmount(t.RND&0xF)<<16 | CurrencyAmount(t.Amount)
}

// CurrencyAmount is the transfer amount of a currency credit token (class 0
// subclasses 4..7), a 20-bit field: bit 19 the sign, bits 18..14 the
// exponent e (0..31), bits 13..0 the mantissa m. The magnitude is, as for
// Amount but with 32 exponents,
//
//	m·10^e + Σ_{i=1..e} 2^14·10^(i−1)
//
// in units of 0.00001 of the currency. In the data block bits 15..0 of the
// field sit where a credit token's amount is (bits 16..31) and bits 19..16
// where its RND is (bits 56..59). Pinned by the 45 currency tokens of
// STS 531-1-07/-11 Ed. 2.2 (docs/tokens.md §5).
type CurrencyAmount uint32

// Negative reports whether the sign bit is set.
func (a CurrencyAmount) Negative() bool { return a>>19&1 == 1 }

// Exponent returns the 5-bit exponent.
func (a CurrencyAmount) Exponent() int { return int(a>>14) & 31 }

// Mantissa returns the 14-bit mantissa.
func (a CurrencyAmount) Mantissa() uint16 { return uint16(a) & 0x3FFF }

// Value returns the signed amount in units of 0.00001 of the currency.
func (a CurrencyAmount) Value() *big.Int {
	e := a.Exponent()
	v := new(big.Int).Mul(big.NewInt(int64(a.Mantissa())), currencyPow10[e])
	v.Add(v, currencyBase[e])
	if a.Negative() {
		v.Neg(v)
	}
	return v
}

// currencyPow10[e] is 10^e and currencyBase[e] the magnitude of mantissa 0
// with exponent e, 2^14·(10^e − 1)/9.
var currencyPow10, currencyBase = func() (p, b [32]*big.Int) {
	for e := range p {
		p[e] = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil)
		b[e] = new(big.Int).Sub(p[e], big.NewInt(1))
		b[e].Mul(b[e], big.NewInt(1<<14))
		b[e].Div(b[e], big.NewInt(9))
	}
	return p, b
}()

// currencyMax returns the largest magnitude exponent e represents.
func currencyMax(e int) *big.Int {
	v := new(big.Int).Mul(big.NewInt(16_383), currencyPow10[e])
	return v.Add(v, currencyBase[e])
}

// EncodeCurrencyAmount encodes v, a signed amount in units of 0.00001 of the
// currency. A value that is not representable is rounded towards +∞: a
// credit up, a debit to the next smaller magnitude (Ed. 2.2 CTSA20: 1 →
// 1.00004, −1 → −0.99994). A magnitude above the largest representable one
// is ErrAmountTooLarge. Zero is encoded without the sign bit.
func EncodeCurrencyAmount(v *big.Int) (CurrencyAmount, error) {
	mag := new(big.Int).Abs(v)
	up := v.Sign() > 0
	for e := range 32 {
		if mag.Cmp(currencyMax(e)) > 0 {
			continue
		}
		var m int64
		switch d := new(big.Int).Sub(mag, currencyBase[e]); {
		case d.Sign() < 0: // between the ranges of e−1 and e
			if !up {
				e, m = e-1, 16_383
			}
		default:
			q, r := d.QuoRem(d, currencyPow10[e], new(big.Int))
			m = q.Int64()
			if up && r.Sign() != 0 {
				m++ // at most 16 383: mag ≤ currencyMax(e)
			}
		}
		a := CurrencyAmount(e)<<14 | CurrencyAmount(m)
		if v.Sign() < 0 {
			a |= 1 << 19
		}
		return a, nil
	}
	return 0, fmt.Errorf("%w: currency amount %s (magnitude above %s)", ErrAmountTooLarge, v, currencyMax(31))
}

// Class returns ClassCredit.
func (Credit) Class() Class { return ClassCredit }

// Subclass returns the credit subclass.
func (t Credit) Subclass() Subclass { return t.Sub }

// Encode encodes the token under c; see the package-level Encode.
func (t Credit) Encode(c Cipher) (Number, error) {
	p, err := t.payload()
	return encode(ClassCredit, p, err, c)
}

func (t Credit) payload() (uint64, error) {
	if t.Sub > ElectricityCurrency {
		return 0, fmt.Errorf("%w: credit subclass %d", ErrReserved, t.Sub)
	}
	return timed(t.Sub, t.TID, t.RND, uint16(t.Amount))
}

// Management is a class 2 register-type management token: every class 2
// subclass except the key-change sections.
type Management struct {
	Sub Subclass // MaximumPowerLimit … WaterMeterFactor, not DecoderKey1..4
	TID uint32
	RND uint8
	// Value is the 16-bit field: for MaximumPowerLimit and
	// MaximumPhasePowerUnbalanceLimit an Amount in watts; the register to
	// clear (0xFFFF = all), the tariff rate, the pad (0 for clear tamper) or
	// the water meter factor as a plain number otherwise.
	Value uint16
}

// Class returns ClassManagement.
func (Management) Class() Class { return ClassManagement }

// Subclass returns the management subclass.
func (t Management) Subclass() Subclass { return t.Sub }

// Encode encodes the token under c; see the package-level Encode.
func (t Management) Encode(c Cipher) (Number, error) {
	p, err := t.payload()
	return encode(ClassManagement, p, err, c)
}

func (t Management) payload() (uint64, error) {
	if t.Sub > WaterMeterFactor || isKeyChange(t.Sub) {
		return 0, fmt.Errorf("%w: class 2 subclass %d is not a register-type management token", ErrReserved, t.Sub)
	}
	return timed(t.Sub, t.TID, t.RND, t.Value)
}

// timed lays out the common class 0 / class 2 payload: value, TID, RND,
// subclass.
func timed(sub Subclass, tid uint32, rnd uint8, value uint16) (uint64, error) {
	if tid > MaxTID {
		return 0, fmt.Errorf("%w: TID %d does not fit 24 bits", ErrRange, tid)
	}
	if rnd > 0xF {
		return 0, fmt.Errorf("%w: RND %d does not fit 4 bits", ErrRange, rnd)
	}
	return uint64(value) | uint64(tid)<<16 | uint64(rnd)<<40 | uint64(sub)<<44, nil
}

// Test is a class 1 initiate meter test/display token. It is not encrypted
// and addresses every meter of the manufacturer (code 0: all meters).
type Test struct {
	Sub     Subclass // TestDisplay1 or TestDisplay2
	MfrCode uint16   // 2-digit (TestDisplay1) or 4-digit (TestDisplay2) manufacturer code
	Control uint64   // 36-bit (TestDisplay1) or 28-bit (TestDisplay2) test selection bits
}

// Class returns ClassTest.
func (Test) Class() Class { return ClassTest }

// Subclass returns the test subclass.
func (t Test) Subclass() Subclass { return t.Sub }

// testLayout gives the widths of the manufacturer code and control fields.
func testLayout(sub Subclass) (mfrBits uint, maxMfr uint16, ok bool) {
	switch sub {
	case TestDisplay1:
		return 8, 99, true
	case TestDisplay2:
		return 16, 9999, true
	}
	return 0, 0, false
}

// Encode encodes the token; test tokens are not encrypted, c may be nil.
func (t Test) Encode(c Cipher) (Number, error) {
	p, err := t.payload()
	return encode(ClassTest, p, err, c)
}

func (t Test) payload() (uint64, error) {
	mfrBits, maxMfr, ok := testLayout(t.Sub)
	if !ok {
		return 0, fmt.Errorf("%w: class 1 subclass %d", ErrReserved, t.Sub)
	}
	controlBits := 44 - mfrBits
	if t.MfrCode > maxMfr {
		return 0, fmt.Errorf("%w: manufacturer code %d (at most %d)", ErrRange, t.MfrCode, maxMfr)
	}
	if t.Control>>controlBits != 0 {
		return 0, fmt.Errorf("%w: control %d does not fit %d bits", ErrRange, t.Control, controlBits)
	}
	return uint64(t.MfrCode) | t.Control<<mfrBits | uint64(t.Sub)<<44, nil
}

func parseTest(sub Subclass, p uint64) Test {
	mfrBits, _, _ := testLayout(sub)
	return Test{
		Sub:     sub,
		MfrCode: uint16(p & (1<<mfrBits - 1)),
		Control: p >> mfrBits & (1<<(44-mfrBits) - 1),
	}
}
