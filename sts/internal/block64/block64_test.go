package block64

import (
	"encoding/binary"
	"testing"
)

// xorCipher is a toy cipher: enough to see the bytes go through.
type xorCipher uint64

func (x xorCipher) Encrypt64(b uint64) uint64 { return b ^ uint64(x) }
func (x xorCipher) Decrypt64(b uint64) uint64 { return b ^ uint64(x) }

// TestBlocks: Encrypt and Decrypt read and write big-endian blocks, in
// place too, and panic naming the cipher on a short slice.
func TestBlocks(t *testing.T) {
	c := xorCipher(0x0102030405060708)
	buf := []byte{0, 0, 0, 0, 0, 0, 0, 0xff, 0xaa}
	Encrypt(c, "toy", buf, buf)
	if got := binary.BigEndian.Uint64(buf); got != 0x01020304050607f7 || buf[8] != 0xaa {
		t.Fatalf("encrypted %x", buf)
	}
	Decrypt(c, "toy", buf, buf)
	if got := binary.BigEndian.Uint64(buf); got != 0xff {
		t.Fatalf("decrypted %x", buf)
	}
	for _, tc := range []struct {
		dst, src []byte
		want     string
	}{{make([]byte, 8), make([]byte, 7), "toy: input not full block"}, {make([]byte, 7), make([]byte, 8), "toy: output not full block"}} {
		func() {
			defer func() {
				if r := recover(); r != tc.want {
					t.Errorf("panic %v, want %q", r, tc.want)
				}
			}()
			Encrypt(c, "toy", tc.dst, tc.src)
		}()
	}
}
