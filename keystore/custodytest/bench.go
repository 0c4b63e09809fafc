package custodytest

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"

	"github.com/stskms/stskms/keystore"
)

// A DKGA04-sized vending key as the KMC seals it, and its additional data.
var (
	benchVK  = make([]byte, 32)
	benchAAD = []byte("vending_key|sgc=123456|kr=1|krn=1")
)

// Bench measures the operations of c on every vend, as sub-benchmarks of
// b: Seal and Open of one vending key, and ECDH with a key of c and a
// fresh peer. c is an unlocked custody; Bench makes a key "bench" in it.
// The sealed store and the PKCS#11 token run it, so their costs compare.
func Bench(b *testing.B, c keystore.Custody) {
	if _, err := c.GenerateECDH(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	peer, err := ecdh.P384().GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	pub := peer.PublicKey()
	blob, err := c.Seal(ctx, benchVK, benchAAD)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Seal", func(b *testing.B) {
		bench(b, func() ([]byte, error) { return c.Seal(ctx, benchVK, benchAAD) })
	})
	b.Run("Open", func(b *testing.B) {
		bench(b, func() ([]byte, error) { return c.Open(ctx, blob, benchAAD) })
	})
	b.Run("ECDH", func(b *testing.B) {
		bench(b, func() ([]byte, error) { return c.ECDH(ctx, "bench", pub) })
	})
}

// bench runs op in b's loop, reporting allocations; it clears what op
// returns (a secret, for all it knows).
func bench(b *testing.B, op func() ([]byte, error)) {
	b.ReportAllocs()
	for b.Loop() {
		out, err := op()
		if err != nil {
			b.Fatal(err)
		}
		clear(out)
	}
}
