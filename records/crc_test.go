package records_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stskms/stskms/records"
)

// TestCRC16Modbus: the catalogue check value and the CRCs the seed records
// print (notes kms-records.md §2.3, recomputed by kms-vectors.py): the
// KMCID 6850, the SMID 2642, the VKLOAD.REQ.1 body FB39, and 87A1 for the
// PK.ECDH.1 body that prints D318.
func TestCRC16Modbus(t *testing.T) {
	seeds := loadSeeds(t)
	r1, r2 := seeds.record(t, "R1").Line, seeds.record(t, "R2").Line
	tests := []struct {
		name string
		in   string
		want uint16
	}{
		{"check value (CRC-16/MODBUS catalogue)", "123456789", 0x4B37},
		{"empty", "", 0xFFFF},
		{"seed KMCID", "KMCID.1:Prism:K0001:20200622T140747Z:9863A537B5AF34F5:", 0x6850},
		{"seed SMID", "SMID.1:Prism:94000304:20200622T130252Z:26D7925210FB47EA:", 0x2642},
		{"seed VKLOAD.REQ.1 body", r2[:len(r2)-4], 0xFB39},
		{"seed PK.ECDH.1 body (prints D318)", r1[:len(r1)-4], 0x87A1},
	}
	for _, tt := range tests {
		if got := records.CRC16Modbus(tt.in); got != tt.want {
			t.Errorf("%s: CRC16Modbus = %04X, want %04X", tt.name, got, tt.want)
		}
	}
}

// TestCRC16ModbusBitwise compares the table-driven CRC with the bitwise
// reference loop of kms-vectors.py (crcHex in helpers_test.go) on random
// strings.
func TestCRC16ModbusBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if got, want := hex4(records.CRC16Modbus(string(b))), crcHex(string(b)); got != want {
			t.Fatalf("CRC16Modbus(%x) = %s, want %s", b, got, want)
		}
	}
}
