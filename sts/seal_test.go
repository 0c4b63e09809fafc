package sts_test

import (
	"errors"
	"testing"

	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/misty1"
)

// TestSealOpen: Seal is the inverse of Open for every class, and NewBlock
// makes blocks with a valid CRC, reserved classes and subclasses included.
func TestSealOpen(t *testing.T) {
	c, err := misty1.New(make([]byte, misty1.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	for class := sts.Class(0); class < 4; class++ {
		for _, payload := range []uint64{0, 1, 0xF<<44 | 0x123456<<16, 1<<48 - 1, 1 << 63} {
			b := sts.NewBlock(class, payload)
			if !b.CRCValid() || b.Bits>>16 != payload&(1<<48-1) {
				t.Fatalf("NewBlock(%d, %#x) = %#x: CRC valid %v", class, payload, b.Bits, b.CRCValid())
			}
			n, err := sts.Seal(b, c)
			if err != nil {
				t.Fatal(err)
			}
			back, err := sts.Open(n, c)
			if err != nil || back != b {
				t.Errorf("Open(Seal(%+v)) = %+v, %v", b, back, err)
			}
		}
	}
	if _, err := sts.Seal(sts.NewBlock(sts.ClassCredit, 0), nil); !errors.Is(err, sts.ErrNoKey) {
		t.Errorf("Seal of a credit block without a key: %v, want ErrNoKey", err)
	}
	if _, err := sts.Seal(sts.NewBlock(sts.ClassTest, 0), nil); err != nil {
		t.Errorf("Seal of a test block without a key: %v", err)
	}
}
