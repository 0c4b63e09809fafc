package records

// crcTable is the byte-wise table of the reflected polynomial 0xA001
// (x^16 + x^15 + x^2 + 1).
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

// CRC16Modbus returns the CRC-16/MODBUS of the bytes of s (polynomial
// 0x8005 reflected, initial value 0xFFFF, no final XOR; check value
// CRC16Modbus("123456789") = 0x4B37). Every record and PKID ends in this
// CRC over the ASCII of everything before it, the last separator included,
// printed as four upper-case hex digits (notes kms-records.md §2.3).
//
// It is not the CRC-16/ARC of the SM serial link (same polynomial, initial
// value 0).
func CRC16Modbus(s string) uint16 {
	return crcUpdate(0xFFFF, s)
}

func crcUpdate(crc uint16, s string) uint16 {
	for i := 0; i < len(s); i++ {
		crc = crc>>8 ^ crcTable[byte(crc)^s[i]]
	}
	return crc
}

func crcUpdateBytes(crc uint16, b []byte) uint16 {
	for _, c := range b {
		crc = crc>>8 ^ crcTable[byte(crc)^c]
	}
	return crc
}

const hexDigits = "0123456789ABCDEF"

// appendCRC appends crc as four upper-case hex digits.
func appendCRC(b []byte, crc uint16) []byte {
	return append(b, hexDigits[crc>>12], hexDigits[crc>>8&0xF], hexDigits[crc>>4&0xF], hexDigits[crc&0xF])
}
