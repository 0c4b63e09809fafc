package sts

import (
	"encoding/binary"
	"fmt"
)

// KeyChange is one section of a key change token set: class 2 subclass 3,
// 4, 8 or 9. A set carries a new decoder key in clear inside blocks that are
// encrypted under the current (old) key. Fields that do not belong to the
// section are ignored when encoding and zero when decoded.
type KeyChange struct {
	Sub     Subclass // DecoderKey1, DecoderKey2, DecoderKey3 or DecoderKey4
	KeyPart uint32   // 32 bits of the new key, big-endian (see NewKey)

	// 1st section.
	KeyType  KeyType // of the new key
	Rollover bool    // TID rollover: the meter clears its TID memory
	KRN      uint8   // key revision number of the new key, 4 bits
	KENHigh  uint8   // key expiry number bits 7..4

	// 2nd section.
	TI     uint8 // tariff index of the new key
	KENLow uint8 // key expiry number bits 3..0

	// 3rd and 4th sections (128-bit keys only).
	SGCPart uint16 // supply group code bits 11..0 (3rd) or 23..12 (4th)
}

// Class returns ClassManagement.
func (KeyChange) Class() Class { return ClassManagement }

// Subclass returns the section's subclass.
func (t KeyChange) Subclass() Subclass { return t.Sub }

// Section returns the section number 1..4, or 0 for a subclass that is not
// a key change section.
func (t KeyChange) Section() int { return sectionOf(t.Sub) }

func sectionOf(sub Subclass) int {
	switch sub {
	case DecoderKey1:
		return 1
	case DecoderKey2:
		return 2
	case DecoderKey3:
		return 3
	case DecoderKey4:
		return 4
	}
	return 0
}

func isKeyChange(sub Subclass) bool { return sectionOf(sub) != 0 }

// Data block bit 50 of the 1st section (RES, "3KCT") is reserved and
// always 0.
const keyChangeReservedBit = 1 << 34

// Encode encodes the section under c, the meter's current (old) key.
func (t KeyChange) Encode(c Cipher) (Number, error) {
	p, err := t.payload()
	return encode(ClassManagement, p, err, c)
}

func (t KeyChange) payload() (uint64, error) {
	p := uint64(t.KeyPart) | uint64(t.Sub)<<44
	switch t.Sub {
	case DecoderKey1:
		if t.KeyType > DCTK || t.KRN > 0xF || t.KENHigh > 0xF {
			return 0, fmt.Errorf("%w: 1st section key type %d, KRN %d, KEN high nibble %d", ErrRange, t.KeyType, t.KRN, t.KENHigh)
		}
		p |= uint64(t.KeyType)<<32 | uint64(t.KRN)<<36 | uint64(t.KENHigh)<<40
		if t.Rollover {
			p |= 1 << 35
		}
	case DecoderKey2:
		if t.KENLow > 0xF {
			return 0, fmt.Errorf("%w: KEN low nibble %d", ErrRange, t.KENLow)
		}
		p |= uint64(t.TI)<<32 | uint64(t.KENLow)<<40
	case DecoderKey3, DecoderKey4:
		if t.SGCPart > 0xFFF {
			return 0, fmt.Errorf("%w: SGC part %d does not fit 12 bits", ErrRange, t.SGCPart)
		}
		p |= uint64(t.SGCPart) << 32
	default:
		return 0, fmt.Errorf("%w: class 2 subclass %d is not a key change section", ErrReserved, t.Sub)
	}
	return p, nil
}

func parseKeyChange(sub Subclass, p uint64) (KeyChange, error) {
	t := KeyChange{Sub: sub, KeyPart: uint32(p)}
	switch sub {
	case DecoderKey1:
		if p&keyChangeReservedBit != 0 {
			return KeyChange{}, fmt.Errorf("%w: reserved bit of the 1st key change section is set", ErrRange)
		}
		t.KeyType = KeyType(p>>32) & 3
		t.Rollover = p>>35&1 == 1
		t.KRN = uint8(p>>36) & 0xF
		t.KENHigh = uint8(p>>40) & 0xF
	case DecoderKey2:
		t.TI = uint8(p >> 32)
		t.KENLow = uint8(p>>40) & 0xF
	default:
		t.SGCPart = uint16(p>>32) & 0xFFF
	}
	return t, nil
}

// NewKey is what a key change token set installs in the meter.
type NewKey struct {
	Key      []byte  // 8 bytes (EA07, EA09) or 16 bytes (EA11), canonical order
	KeyType  KeyType // DITK, DDTK, DUTK or DCTK
	KRN      uint8   // key revision number, 0..15
	TI       uint8   // tariff index
	KEN      uint8   // key expiry number (255: no expiry in practice)
	Rollover bool    // clear the TID memory (change to a new base date)
	SGC      uint32  // supply group code; carried only by 128-bit sets
}

// MaxSGC is the largest supply group code (6 decimal digits).
const MaxSGC = 999_999

// KeyChangeTokens returns the key change token set for a new key, in section
// order: 1st and 2nd for a 64-bit key, then 3rd and 4th for a 128-bit key.
// A 64-bit key's 1st section carries key bytes 0..3 and its 2nd bytes 4..7;
// a 128-bit key's sections carry bytes 0..3 (1st), 12..15 (2nd), 4..7 with
// the SGC's low 12 bits (3rd) and 8..11 with its high 12 bits (4th).
func KeyChangeTokens(nk NewKey) ([]KeyChange, error) {
	if nk.KeyType > DCTK || nk.KRN > 0xF {
		return nil, fmt.Errorf("%w: key type %d, KRN %d", ErrRange, nk.KeyType, nk.KRN)
	}
	first := KeyChange{Sub: DecoderKey1, KeyType: nk.KeyType, Rollover: nk.Rollover, KRN: nk.KRN, KENHigh: nk.KEN >> 4}
	second := KeyChange{Sub: DecoderKey2, TI: nk.TI, KENLow: nk.KEN & 0xF}
	part := func(i int) uint32 { return binary.BigEndian.Uint32(nk.Key[4*i:]) }
	switch len(nk.Key) {
	case 8:
		first.KeyPart, second.KeyPart = part(0), part(1)
		return []KeyChange{first, second}, nil
	case 16:
		if nk.SGC > MaxSGC {
			return nil, fmt.Errorf("%w: supply group code %d", ErrRange, nk.SGC)
		}
		first.KeyPart, second.KeyPart = part(0), part(3)
		third := KeyChange{Sub: DecoderKey3, KeyPart: part(1), SGCPart: uint16(nk.SGC & 0xFFF)}
		fourth := KeyChange{Sub: DecoderKey4, KeyPart: part(2), SGCPart: uint16(nk.SGC >> 12)}
		return []KeyChange{first, second, third, fourth}, nil
	}
	return nil, fmt.Errorf("%w: new key of %d bytes (want 8 or 16)", ErrKey, len(nk.Key))
}

// AssembleKey combines a complete key change token set into the new key.
// keySize is the meter's key length in bytes: 8 needs the 1st and 2nd
// sections, 16 all four. Sections may come in any order; a missing or
// repeated section is an error.
func AssembleKey(keySize int, sections []KeyChange) (NewKey, error) {
	want := map[int]int{8: 2, 16: 4}[keySize]
	if want == 0 {
		return NewKey{}, fmt.Errorf("%w: key size %d", ErrKey, keySize)
	}
	var got [5]*KeyChange
	for i := range sections {
		s := sectionOf(sections[i].Sub)
		if s == 0 || s > want || got[s] != nil {
			return NewKey{}, fmt.Errorf("%w: key change section %d in a %d-section set", ErrRange, s, want)
		}
		if _, err := sections[i].payload(); err != nil {
			return NewKey{}, err
		}
		got[s] = &sections[i]
	}
	if len(sections) != want {
		return NewKey{}, fmt.Errorf("%w: %d of %d key change sections", ErrRange, len(sections), want)
	}
	first, second := got[1], got[2]
	nk := NewKey{
		KeyType:  first.KeyType,
		KRN:      first.KRN,
		TI:       second.TI,
		KEN:      first.KENHigh<<4 | second.KENLow,
		Rollover: first.Rollover,
		Key:      make([]byte, keySize),
	}
	order := []*KeyChange{first, second}
	if keySize == 16 {
		order = []*KeyChange{first, got[3], got[4], second}
		nk.SGC = uint32(got[4].SGCPart)<<12 | uint32(got[3].SGCPart)
	}
	for i, s := range order {
		binary.BigEndian.PutUint32(nk.Key[4*i:], s.KeyPart)
	}
	return nk, nil
}
