//go:build cgo

package pkcs11_test

import (
	"fmt"
	"testing"

	"github.com/stskms/stskms/keystore/custodytest"
)

// BenchmarkCustody: the costs of the token custody on SoftHSM2, to compare
// with the sealed store's (keystore's BenchmarkCustody): ECDH through
// CKM_ECDH1_DERIVE, and sealing and opening a 32-byte vending key through
// CKM_AES_GCM.
func BenchmarkCustody(b *testing.B) {
	custodytest.Bench(b, newHSM(b).custody())
}

// BenchmarkGenerateECDH: one key pair made in the token.
func BenchmarkGenerateECDH(b *testing.B) {
	tok := newHSM(b).custody()
	i := 0
	for b.Loop() {
		i++
		if _, err := tok.GenerateECDH(ctx, fmt.Sprintf("k%d", i)); err != nil {
			b.Fatal(err)
		}
	}
}
