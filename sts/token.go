package sts

import "fmt"

// Token is the content of one STS token. Credit, CurrencyCredit,
// Management, Test and KeyChange are the Tokens; Decode returns one of them.
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
	case b.Class == ClassCredit && sub == ElectricityCurrency:
		t = CurrencyCredit{Sub: sub, TID: tidField(p), Amount: currencyField(p)}
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

// Credit is a class 0 transfer-credit token of an Electricity, Water, Gas
// or ConnectionTime register. Currency credit (subclass 4) is a
// CurrencyCredit token.
type Credit struct {
	Sub    Subclass // Electricity, Water, Gas or ConnectionTime
	TID    uint32   // minutes since the meter's base date
	RND    uint8    // 4-bit random number
	Amount Amount   // in tenths of the subclass's unit
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

// payload rejects subclass 4 with ErrReserved: it is not a subclass of
// Credit (as the key change subclasses are not of Management), and its
// amount field is a CurrencyAmount that Amount cannot hold.
func (t Credit) payload() (uint64, error) {
	switch {
	case t.Sub == ElectricityCurrency:
		return 0, fmt.Errorf("%w: credit subclass 4 (electricity currency) is a CurrencyCredit token, not a Credit", ErrReserved)
	case t.Sub > ElectricityCurrency:
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
