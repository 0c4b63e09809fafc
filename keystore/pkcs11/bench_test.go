//go:build cgo

package pkcs11_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"testing"
)

// sink keeps results alive.
var sink []byte

// The costs of the token custody on SoftHSM2, to compare with the sealed
// store's (keystore's benchmarks): ECDH through CKM_ECDH1_DERIVE, and
// sealing and opening a 32-byte vending key through CKM_AES_GCM.

func BenchmarkECDH(b *testing.B) {
	tok := newHSM(b).custody()
	if _, err := tok.GenerateECDH(ctx, "k"); err != nil {
		b.Fatal(err)
	}
	peer, _ := ecdh.P384().GenerateKey(rand.Reader)
	for b.Loop() {
		z, err := tok.ECDH(ctx, "k", peer.PublicKey())
		if err != nil {
			b.Fatal(err)
		}
		sink = z
	}
}

var (
	vk    = make([]byte, 32)
	vkAAD = []byte("vending_key|sgc=123456|kr=1|krn=1")
)

func BenchmarkSeal(b *testing.B) {
	tok := newHSM(b).custody()
	b.ReportAllocs()
	for b.Loop() {
		blob, err := tok.Seal(ctx, vk, vkAAD)
		if err != nil {
			b.Fatal(err)
		}
		sink = blob
	}
}

func BenchmarkOpen(b *testing.B) {
	tok := newHSM(b).custody()
	blob, err := tok.Seal(ctx, vk, vkAAD)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		pt, err := tok.Open(ctx, blob, vkAAD)
		if err != nil {
			b.Fatal(err)
		}
		sink = pt
	}
}

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
