package misty1

import "encoding/binary"

// expandKey returns the RFC 2994 key schedule EK: EK[0..7] are the key's
// 16-bit big-endian words and EK[8+i] = FI(EK[i], EK[(i+1)%8]).
func expandKey(key []byte) [16]uint16 {
	var ek [16]uint16
	for i := range 8 {
		ek[i] = binary.BigEndian.Uint16(key[2*i:])
	}
	for i := range 8 {
		ek[8+i] = fi(ek[i], ek[(i+1)%8])
	}
	return ek
}

// foKey holds the subkeys of one FO round: ko are XORed into the data
// before each of the three FI calls and into the output, ki key the FI calls.
type foKey struct {
	ko [4]uint16
	ki [3]uint16
}

// newFOKey selects from ek the subkeys of FO round k.
func newFOKey(ek *[16]uint16, k int) foKey {
	return foKey{
		ko: [4]uint16{ek[k], ek[(k+2)%8], ek[(k+7)%8], ek[(k+4)%8]},
		ki: [3]uint16{ek[(k+5)%8+8], ek[(k+1)%8+8], ek[(k+3)%8+8]},
	}
}

// apply is the FO function: a three-round Feistel network over FI.
func (key *foKey) apply(in uint32) uint32 {
	t0, t1 := uint16(in>>16), uint16(in)
	t0 = fi(t0^key.ko[0], key.ki[0]) ^ t1
	t1 = fi(t1^key.ko[1], key.ki[1]) ^ t0
	t0 = fi(t0^key.ko[2], key.ki[2]) ^ t1
	t1 ^= key.ko[3]
	return uint32(t1)<<16 | uint32(t0)
}

// fi is the FI function: S9, S7, a key XOR and S9 again over the 9-bit and
// 7-bit halves of its input. The key is KIij7 || KIij9, so one 16-bit XOR of
// the packed halves applies both of its parts.
func fi(in, key uint16) uint16 {
	x := fiHigh[in>>7] ^ fiLow[in&0x7f] ^ key
	return x&0xfe00 | (s9[x&0x1ff] ^ x>>9)
}

// fiHigh and fiLow fold the keyless first half of FI,
//
//	d9 = S9[in>>7] ^ in&0x7f
//	d7 = S7[in&0x7f] ^ d9&0x7f
//
// into two independent lookups: d7<<9 | d9 == fiHigh[in>>7] ^ fiLow[in&0x7f].
// This shortens the dependency chain through FI, which bounds the speed of
// the cipher. Both tables are derived from the RFC's S9 and S7.
var fiHigh, fiLow = fiTables()

func fiTables() (high [512]uint16, low [128]uint16) {
	for i, v := range s9 {
		high[i] = (v&0x7f)<<9 | v
	}
	for i, v := range s7 {
		low[i] = (uint16(v)^uint16(i))<<9 | uint16(i)
	}
	return high, low
}

// flKey holds the subkeys of one FL layer half: and is ANDed with the left
// 16 bits before they are XORed into the right, or is ORed with the right 16
// bits before they are XORed into the left.
type flKey struct {
	and, or uint16
}

// newFLKey selects from ek the subkeys of FL(·, k) and FLINV(·, k).
func newFLKey(ek *[16]uint16, k int) flKey {
	i := k / 2
	if k%2 == 0 {
		return flKey{and: ek[i], or: ek[(i+6)%8+8]}
	}
	return flKey{and: ek[(i+2)%8+8], or: ek[(i+4)%8]}
}

// forward is the FL function.
func (key flKey) forward(in uint32) uint32 {
	d0, d1 := uint16(in>>16), uint16(in)
	d1 ^= d0 & key.and
	d0 ^= d1 | key.or
	return uint32(d0)<<16 | uint32(d1)
}

// inverse is the FLINV function, the inverse of forward.
func (key flKey) inverse(in uint32) uint32 {
	d0, d1 := uint16(in>>16), uint16(in)
	d0 ^= d1 | key.or
	d1 ^= d0 & key.and
	return uint32(d0)<<16 | uint32(d1)
}
