package sts

import (
	"encoding/binary"
	"fmt"
)

// KeyChange is one section of a key change token set: class 2 subclass 3,
// 4, 8 or 9. A set carries a new decoder key in clear inside blocks that are
// encrypted under the current (old) key. Fields that do not belong to the
// section are ignored when encoding and zero when decoded.
//
// The 3rd token of a 64-bit three-token set (NewKey.ThreeTokens) is also a
// subclass 8 section: its data block bits 36..59 hold the supply group code
// and bits 16..35 are 0, which here reads as KeyPart = SGC bits 11..0 << 20
// and SGCPart = SGC bits 23..12 (KeyChangeTokens and AssembleKey convert).
type KeyChange struct {
	Sub     Subclass // DecoderKey1, DecoderKey2, DecoderKey3 or DecoderKey4
	KeyPart uint32   // 32 bits of the new key, big-endian (see NewKey)

	// 1st section.
	KeyType     KeyType // of the new key
	ThreeTokens bool    // bit 50 ("3KCT"): a 64-bit set of three tokens, the 3rd carrying the SGC
	Rollover    bool    // TID rollover: the meter clears its TID memory
	KRN         uint8   // key revision number of the new key, 4 bits
	KENHigh     uint8   // key expiry number bits 7..4

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

// keyChangeThreeTokensBit is data block bit 50 of the 1st section ("3KCT"),
// payload bit 34: set in a 64-bit set of three tokens (STS 531-1-07 Ed. 2.2
// CTSA05 step 4; docs/tokens.md §13).
const keyChangeThreeTokensBit = 1 << 34

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
		if t.ThreeTokens {
			p |= keyChangeThreeTokensBit
		}
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
		t.KeyType = KeyType(p>>32) & 3
		t.ThreeTokens = p&keyChangeThreeTokensBit != 0
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
	SGC      uint32  // supply group code; carried by 128-bit sets and 64-bit three-token sets
	// ThreeTokens asks for (or reports) a 64-bit set of three tokens
	// ("3KCT"): the 1st section has bit 50 set and a 3rd token carries the
	// SGC. 128-bit sets carry the SGC anyway and have no such form.
	ThreeTokens bool
}

// MaxSGC is the largest supply group code (6 decimal digits).
const MaxSGC = 999_999

// KeyChangeTokens returns the key change token set for a new key, in section
// order: 1st and 2nd for a 64-bit key, then 3rd and 4th for a 128-bit key.
// A 64-bit key's 1st section carries key bytes 0..3 and its 2nd bytes 4..7;
// a 128-bit key's sections carry bytes 0..3 (1st), 12..15 (2nd), 4..7 with
// the SGC's low 12 bits (3rd) and 8..11 with its high 12 bits (4th). With
// nk.ThreeTokens a 64-bit set has a 3rd token, subclass 8, that carries the
// 24-bit SGC in data block bits 36..59, and its 1st section has bit 50 set.
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
		if !nk.ThreeTokens {
			return []KeyChange{first, second}, nil
		}
		if nk.SGC > MaxSGC {
			return nil, fmt.Errorf("%w: supply group code %d", ErrRange, nk.SGC)
		}
		first.ThreeTokens = true
		return []KeyChange{first, second, sgcToken(nk.SGC)}, nil
	case 16:
		if nk.SGC > MaxSGC {
			return nil, fmt.Errorf("%w: supply group code %d", ErrRange, nk.SGC)
		}
		if nk.ThreeTokens {
			return nil, fmt.Errorf("%w: a 128-bit key has no three-token set", ErrRange)
		}
		first.KeyPart, second.KeyPart = part(0), part(3)
		third := KeyChange{Sub: DecoderKey3, KeyPart: part(1), SGCPart: uint16(nk.SGC & 0xFFF)}
		fourth := KeyChange{Sub: DecoderKey4, KeyPart: part(2), SGCPart: uint16(nk.SGC >> 12)}
		return []KeyChange{first, second, third, fourth}, nil
	}
	return nil, fmt.Errorf("%w: new key of %d bytes (want 8 or 16)", ErrKey, len(nk.Key))
}

// sgcToken is the 3rd token of a 64-bit three-token set: data block bits
// 36..59 hold the SGC, bits 16..35 are 0.
func sgcToken(sgc uint32) KeyChange {
	return KeyChange{Sub: DecoderKey3, KeyPart: (sgc & 0xFFF) << 20, SGCPart: uint16(sgc>>12) & 0xFFF}
}

// sgcOf reads the SGC of the 3rd token of a 64-bit three-token set. Bits
// 16..35 are 0 in the only public set; a token with any of them set is
// rejected rather than guessed at.
func sgcOf(t *KeyChange) (uint32, error) {
	if t.KeyPart&(1<<20-1) != 0 {
		return 0, fmt.Errorf("%w: data block bits 16..35 of a three-token set's 3rd token are not 0", ErrRange)
	}
	sgc := uint32(t.SGCPart)<<12 | t.KeyPart>>20
	if sgc > MaxSGC {
		return 0, fmt.Errorf("%w: supply group code %d", ErrRange, sgc)
	}
	return sgc, nil
}

// AssembleKey combines a complete key change token set into the new key.
// keySize is the meter's key length in bytes: 8 needs the 1st and 2nd
// sections (and the 3rd token when the 1st has ThreeTokens), 16 all four.
// Sections may come in any order; a missing or repeated section is an
// error.
func AssembleKey(keySize int, sections []KeyChange) (NewKey, error) {
	want := map[int]int{8: 2, 16: 4}[keySize]
	if want == 0 {
		return NewKey{}, fmt.Errorf("%w: key size %d", ErrKey, keySize)
	}
	var got [5]*KeyChange
	for i := range sections {
		s := sectionOf(sections[i].Sub)
		if s == 0 || got[s] != nil {
			return NewKey{}, fmt.Errorf("%w: key change section %d repeated or not a section", ErrRange, s)
		}
		if _, err := sections[i].payload(); err != nil {
			return NewKey{}, err
		}
		got[s] = &sections[i]
	}
	first, second := got[1], got[2]
	if first != nil && first.ThreeTokens {
		if keySize != 8 {
			return NewKey{}, fmt.Errorf("%w: three-token flag in a %d-byte key's set", ErrRange, keySize)
		}
		want = 3
	}
	for s := range got {
		if got[s] != nil && s > want {
			return NewKey{}, fmt.Errorf("%w: key change section %d in a %d-section set", ErrRange, s, want)
		}
	}
	if len(sections) != want {
		return NewKey{}, fmt.Errorf("%w: %d of %d key change sections", ErrRange, len(sections), want)
	}
	nk := NewKey{
		KeyType:  first.KeyType,
		KRN:      first.KRN,
		TI:       second.TI,
		KEN:      first.KENHigh<<4 | second.KENLow,
		Rollover: first.Rollover,
		Key:      make([]byte, keySize),
	}
	order := []*KeyChange{first, second}
	switch want {
	case 3:
		sgc, err := sgcOf(got[3])
		if err != nil {
			return NewKey{}, err
		}
		nk.SGC, nk.ThreeTokens = sgc, true
	case 4:
		order = []*KeyChange{first, got[3], got[4], second}
		nk.SGC = uint32(got[4].SGCPart)<<12 | uint32(got[3].SGCPart)
	}
	for i, s := range order {
		binary.BigEndian.PutUint32(nk.Key[4*i:], s.KeyPart)
	}
	return nk, nil
}

// keyChanges is the whitelist of key type changes, current (parent) key
// type → new key type, of IEC 62055-41 §6.5 as far as public excerpts give
// it (docs/tokens.md §15; §6.5.2.1, §6.5.2.3.4, §6.5.2.3.5 and STS 600-10-1
// §4.1.3):
//
//	DITK → DDTK, DUTK, DCTK   the key set at manufacture or repair is replaced
//	DUTK → DUTK, DDTK
//	DCTK → DCTK
//	DDTK → DUTK, DCTK         a default-keyed meter moves to a utility key
//	DDTK → DDTK               renewal of the default key
//
// No change leads to a DITK, which is loaded only at manufacture or repair.
// The DDTK rows are inferred: the public excerpts do not give the full
// matrix.
var keyChanges = map[[2]KeyType]bool{
	{DITK, DDTK}: true, {DITK, DUTK}: true, {DITK, DCTK}: true,
	{DUTK, DUTK}: true, {DUTK, DDTK}: true,
	{DCTK, DCTK}: true,
	{DDTK, DUTK}: true, {DDTK, DCTK}: true, {DDTK, DDTK}: true,
}

// KeyChangeAllowed reports whether a decoder key of type from may be
// changed to one of type to (see keyChanges for the table and its source).
// Meters and security modules both apply it; a vending module further
// refuses every change from a DITK.
func KeyChangeAllowed(from, to KeyType) bool { return keyChanges[[2]KeyType{from, to}] }
