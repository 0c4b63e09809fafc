package sts

// crcTable is the byte-wise table of the reflected polynomial 0xA001
// (x^16 + x^15 + x^2 + 1), i.e. CRC-16/MODBUS.
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

// checksum returns the CRC field of a data block: CRC-16/MODBUS (initial
// value 0xFFFF, no final XOR) over the 50-bit value bits16..63 | class<<48
// written as 7 bytes big-endian, with the two bytes of the register swapped.
// docs/tokens.md pins the byte swap with the class 1 vectors.
func checksum(class Class, payload uint64) uint16 {
	v := payload | uint64(class)<<48
	crc := uint16(0xFFFF)
	for shift := 48; shift >= 0; shift -= 8 {
		crc = crc>>8 ^ crcTable[byte(crc)^byte(v>>shift)]
	}
	return crc<<8 | crc>>8
}

// withCRC returns the 64-bit data block for a 48-bit payload (data block bits
// 16..63, subclass included) and its class.
func withCRC(class Class, payload uint64) uint64 {
	return payload<<16 | uint64(checksum(class, payload))
}
