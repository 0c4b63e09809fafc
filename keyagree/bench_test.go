package keyagree_test

import (
	"testing"

	"github.com/stskms/stskms/keyagree"
)

// sink keeps results alive (and escaping, as in real use).
var sink []byte

// BenchmarkSharedSecret: one P-384 ECDH, what the KMC pays per request.
func BenchmarkSharedSecret(b *testing.B) {
	f := newFixture(b)
	peer := f.kmc.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		z, err := keyagree.SharedSecret(f.sm, peer)
		if err != nil {
			b.Fatal(err)
		}
		sink = z
	}
}

// BenchmarkRequestTag: K_req derivation plus the tag over the §3.7 request.
func BenchmarkRequestTag(b *testing.B) {
	f := newFixture(b)
	in := &f.v.Inputs
	b.ReportAllocs()
	for b.Loop() {
		k, err := keyagree.RequestKey(f.z, in.TReq, in.SMID, in.KMCID)
		if err != nil {
			b.Fatal(err)
		}
		tag, err := keyagree.RequestTag(k, f.signed)
		if err != nil {
			b.Fatal(err)
		}
		sink = tag
	}
}

// BenchmarkDeriveKLFKeys: KEK and K_mac of one file.
func BenchmarkDeriveKLFKeys(b *testing.B) {
	f := newFixture(b)
	in := &f.v.Inputs
	b.ReportAllocs()
	for b.Loop() {
		k, err := keyagree.DeriveKLFKeys(f.z, f.nonce, in.SMID, in.KMCID, in.TReq)
		if err != nil {
			b.Fatal(err)
		}
		k.Zero()
	}
}

// BenchmarkWrapVK: one VK.1 wrap (AES-256 key schedule and GCM included).
func BenchmarkWrapVK(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		ct, err := f.keys.Wrap(f.iv, f.vk, f.vkAAD)
		if err != nil {
			b.Fatal(err)
		}
		sink = ct
	}
}

// BenchmarkUnwrapVK: one VK.1 unwrap, the SM side of BenchmarkWrapVK.
func BenchmarkUnwrapVK(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		vk, err := f.keys.Unwrap(f.iv, f.ct, f.vkAAD)
		if err != nil {
			b.Fatal(err)
		}
		sink = vk
	}
}

// BenchmarkKLFMAC: the closing MAC of a file with 25 VK.1 records, the
// minimum register count of an SM (kms-records.md §3.5).
func BenchmarkKLFMAC(b *testing.B) {
	f := newFixture(b)
	records := []string{f.v.Expected.KLFHdr}
	for range 25 {
		records = append(records, f.v.Expected.VKRec)
	}
	b.ReportAllocs()
	for b.Loop() {
		mac, err := f.keys.MAC(records)
		if err != nil {
			b.Fatal(err)
		}
		sink = mac
	}
}
