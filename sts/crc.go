package sts

// crcTable is the byte-wise table of the reflected polynomial 0xA001
// (x^16 + x^15 + x^2 + 1), the table of CRC16Update.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16Update feeds the bytes of p into a CRC-16 register crc of the
// reflected polynomial 0xA001 (0x8005 reflected, x^16 + x^15 + x^2 + 1, no
// final XOR), table-driven, and returns the new register. The initial value
// names the variant:
//
//   - CRC-16/MODBUS: CRC16Update(0xFFFF, p); check value of "123456789"
//     0x4B37. The token CRC (byte-swapped) and the records' CRC.
//   - CRC-16/ARC: CRC16Update(0, p); check value of "123456789" 0xBB3D.
//     The STS6 frames of the SM serial link.
//
// Feeding p in pieces gives the same register as feeding it whole.
func CRC16Update[T ~string | ~[]byte](crc uint16, p T) uint16 {
	for i := 0; i < len(p); i++ {
		crc = crcByte(crc, p[i])
	}
	return crc
}

// crcByte feeds one byte into the register (small enough to be inlined).
func crcByte(crc uint16, c byte) uint16 { return crc>>8 ^ crcTable[byte(crc)^c] }

// crcCByte is the byte that CRC_C, the CRC of currency credit tokens, feeds
// into the register after the seven bytes of the ordinary CRC. Pinned by the
// 45 currency tokens of STS 531-1-07/-11 Ed. 2.2 (docs/tokens.md §3).
const crcCByte = 0x01

// usesCRCC reports whether a data block takes CRC_C instead of the ordinary
// CRC: class 0 subclasses 4..7, the currency credit tokens (IEC 62055-41
// §6.3.7). Reserved subclasses 5..7 included, so that NewBlock makes their
// blocks as the Ed. 2.2 data does.
func usesCRCC(class Class, payload uint64) bool {
	return class == ClassCredit && payload>>44&0xC == 4
}

// checksum returns the CRC field of a data block: CRC-16/MODBUS (initial
// value 0xFFFF, no final XOR) over the 50-bit value bits16..63 | class<<48
// written as 7 bytes big-endian, with the two bytes of the register swapped.
// docs/tokens.md pins the byte swap with the class 1 vectors. Currency
// credit tokens (usesCRCC) take CRC_C: the same register fed one more byte,
// crcCByte, before the swap.
func checksum(class Class, payload uint64) uint16 {
	v := payload | uint64(class)<<48
	crc := uint16(0xFFFF)
	for shift := 48; shift >= 0; shift -= 8 {
		crc = crcByte(crc, byte(v>>shift))
	}
	if usesCRCC(class, payload) {
		crc = crcByte(crc, crcCByte)
	}
	return crc<<8 | crc>>8
}

// withCRC returns the 64-bit data block for a 48-bit payload (data block bits
// 16..63, subclass included) and its class.
func withCRC(class Class, payload uint64) uint64 {
	return payload<<16 | uint64(checksum(class, payload))
}
