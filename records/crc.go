package records

import "github.com/stskms/stskms/sts"

// CRC16Modbus returns the CRC-16/MODBUS of the bytes of s (polynomial
// 0x8005 reflected, initial value 0xFFFF, no final XOR; check value
// CRC16Modbus("123456789") = 0x4B37). Every record and PKID ends in this
// CRC over the ASCII of everything before it, the last separator included,
// printed as four upper-case hex digits (notes kms-records.md §2.3).
//
// It is not the CRC-16/ARC of the SM serial link (same polynomial, initial
// value 0). Both are sts.CRC16Update.
func CRC16Modbus(s string) uint16 {
	return sts.CRC16Update(0xFFFF, s)
}

const hexDigits = "0123456789ABCDEF"

// appendCRC appends crc as four upper-case hex digits.
func appendCRC(b []byte, crc uint16) []byte {
	return append(b, hexDigits[crc>>12], hexDigits[crc>>8&0xF], hexDigits[crc>>4&0xF], hexDigits[crc&0xF])
}
