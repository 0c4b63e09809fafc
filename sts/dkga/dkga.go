// Package dkga derives STS decoder keys from vending keys: DKGA02 (DES,
// 64-bit vending key) and DKGA04 (HMAC-SHA-256, 160-bit vending key).
//
// It imports only the standard library and sts. Decoder keys come out in
// canonical byte order (the DES or HMAC output order); docs/tokens.md shows
// how that relates to the byte-reversed form some implementations print.
//
// DKGA01 and DKGA03 are not provided: no public source gives DKGA01's cipher
// or any vector for either.
package dkga

import (
	"crypto/des"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/stskms/stskms/sts"
)

// Algorithm is a decoder key generation algorithm number.
type Algorithm uint8

// The decoder key generation algorithms.
const (
	DKGA02 Algorithm = 2
	DKGA04 Algorithm = 4
)

// ParseAlgorithm accepts "02" or "04" (or "2", "4").
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "02", "2":
		return DKGA02, nil
	case "04", "4":
		return DKGA04, nil
	}
	return 0, fmt.Errorf("%w: DKGA %q (want 02 or 04)", ErrParams, s)
}

// String is the two-digit number, e.g. "04".
func (a Algorithm) String() string { return fmt.Sprintf("%02d", uint8(a)) }

// VendingKeySize is the vending key length in bytes the algorithm needs.
func (a Algorithm) VendingKeySize() int {
	switch a {
	case DKGA02:
		return 8
	case DKGA04:
		return 20
	}
	return 0
}

// Errors returned by this package, wrapped with detail (never key material).
var (
	ErrVendingKey = errors.New("dkga: invalid vending key")
	ErrParams     = errors.New("dkga: invalid parameters")
)

// Params are the meter and key attributes a decoder key is derived from.
type Params struct {
	KeyType  sts.KeyType
	SGC      uint32 // supply group code, 6 decimal digits
	TI       uint8  // tariff index, 2 decimal digits
	KRN      uint8  // key revision number, sts.MinKRN..sts.MaxKRN (1..9)
	PAN      sts.PAN
	BaseDate sts.BaseDate // DKGA04 only
	EA       sts.EA       // DKGA04 only: EA07/EA09 give 8-byte keys, EA11 16-byte keys
}

func (p *Params) check() error {
	switch {
	case p.KeyType > sts.DCTK:
		return fmt.Errorf("%w: key type %d", ErrParams, p.KeyType)
	case p.SGC > sts.MaxSGC:
		return fmt.Errorf("%w: supply group code %d is not 6 digits", ErrParams, p.SGC)
	case p.TI > sts.MaxTI:
		return fmt.Errorf("%w: tariff index %d is not 2 digits", ErrParams, p.TI)
	case p.KRN < sts.MinKRN || p.KRN > sts.MaxKRN:
		return fmt.Errorf("%w: key revision number %d (want %d..%d)", ErrParams, p.KRN, sts.MinKRN, sts.MaxKRN)
	case p.PAN.IsZero():
		return fmt.Errorf("%w: no PAN", ErrParams)
	}
	return nil
}

// Generator derives decoder keys under one vending key. It keeps the keyed
// cipher or MAC state between calls, so deriving many meters' keys costs one
// DES block or one HMAC each. A Generator is not safe for concurrent use.
type Generator struct {
	alg   Algorithm
	des   interface{ Encrypt(dst, src []byte) }
	vk    uint64  // DKGA02: the vending key, which is XORed into the output
	block [8]byte // DKGA02: the DES block, kept to spare an allocation
	mac   hash.Hash
	msg   []byte
	sum   []byte
}

// New returns a Generator for a vending key.
func New(alg Algorithm, vendingKey []byte) (*Generator, error) {
	size := alg.VendingKeySize()
	if size == 0 {
		return nil, fmt.Errorf("%w: DKGA%s", ErrParams, alg)
	}
	if len(vendingKey) != size {
		return nil, fmt.Errorf("%w: DKGA%s needs %d bytes, got %d", ErrVendingKey, alg, size, len(vendingKey))
	}
	g := &Generator{alg: alg}
	if alg == DKGA02 {
		c, err := des.NewCipher(vendingKey)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrVendingKey, err)
		}
		g.des = c
		g.vk = binary.BigEndian.Uint64(vendingKey)
		return g, nil
	}
	g.mac = hmac.New(sha256.New, vendingKey)
	g.msg = make([]byte, 0, 64)
	g.sum = make([]byte, 0, sha256.Size)
	return g, nil
}

// DecoderKey derives the decoder key of a meter.
func (g *Generator) DecoderKey(p Params) ([]byte, error) {
	return g.AppendDecoderKey(nil, p)
}

// AppendDecoderKey appends the decoder key of a meter to dst, so a caller
// deriving many keys can reuse one buffer.
func (g *Generator) AppendDecoderKey(dst []byte, p Params) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if g.alg == DKGA02 {
		return g.dkga02(dst, &p), nil
	}
	return g.dkga04(dst, &p)
}

// dkga02: X = PANBlock ⊕ CtlBlock, DK = DES_VK(X) ⊕ X ⊕ VK.
//
// PANBlock is PAN digits 2..17 (the IIN without its first digit, the DRN
// with its check digit, not the PAN check digit) as 16 hex nibbles; for a
// DCTK the DRN digits are zero. CtlBlock is KT ‖ SGC ‖ TI ‖ KRN ‖ FFFFFF.
func (g *Generator) dkga02(dst []byte, p *Params) []byte {
	pan := p.PAN.String()[1:17]
	panBlock := nibbles(pan)
	if p.KeyType == sts.DCTK {
		drnDigits := 4 * len(p.PAN.DRN())
		panBlock = panBlock >> drnDigits << drnDigits
	}
	ctl := uint64(p.KeyType)<<60 | bcd(uint64(p.SGC), 6)<<36 | bcd(uint64(p.TI), 2)<<28 |
		uint64(p.KRN)<<24 | 0xFFFFFF
	x := panBlock ^ ctl
	buf := g.block[:]
	binary.BigEndian.PutUint64(buf, x)
	g.des.Encrypt(buf, buf)
	return binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(buf)^x^g.vk)
}

// nibbles reads decimal digits as hex nibbles ("0072" → 0x0072).
func nibbles(digits string) uint64 {
	var v uint64
	for i := 0; i < len(digits); i++ {
		v = v<<4 | uint64(digits[i]-'0')
	}
	return v
}

// bcd writes v as n decimal digits, one per nibble.
func bcd(v uint64, n int) uint64 {
	var out uint64
	for i := 0; i < n; i++ {
		out |= v % 10 << (4 * i)
		v /= 10
	}
	return out
}

// dkga04: DK = HMAC-SHA-256(VK, D) truncated to the key length, where D is
// the byte string of docs/tokens.md: the label "04" and base date, EA and
// TI codes, a zero byte, then SGC, KT, KRN and PAN, then the key length in
// bits as a 32-bit big-endian number.
func (g *Generator) dkga04(dst []byte, p *Params) ([]byte, error) {
	size := p.EA.KeySize()
	if size == 0 {
		return nil, fmt.Errorf("%w: encryption algorithm %d", ErrParams, uint8(p.EA))
	}
	if !p.BaseDate.Valid() {
		return nil, fmt.Errorf("%w: base date %d", ErrParams, p.BaseDate)
	}
	const hex = "0123456789abcdef"
	m := append(g.msg[:0], 4, 2, '0', '4', 2)
	m = append(m, p.BaseDate.ShortCode()...)
	m = append(m, 2)
	m = appendDigits(m, uint64(p.EA), 2)
	m = append(m, 2)
	m = appendDigits(m, uint64(p.TI), 2)
	m = append(m, 0, 4, 6)
	m = appendDigits(m, uint64(p.SGC), 6)
	m = append(m, 1, hex[p.KeyType], 1, hex[p.KRN], 18)
	m = append(m, p.PAN.String()...)
	m = binary.BigEndian.AppendUint32(m, uint32(8*size))
	g.msg = m
	g.mac.Reset()
	g.mac.Write(m)
	g.sum = g.mac.Sum(g.sum[:0])
	return append(dst, g.sum[:size]...), nil
}

// appendDigits appends v as n ASCII decimal digits.
func appendDigits(dst []byte, v uint64, n int) []byte {
	var buf [20]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:n]...)
}
