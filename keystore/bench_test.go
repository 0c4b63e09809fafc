package keystore_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/stskms/stskms/keystore"
)

// sink keeps results alive.
var sink []byte

// vk and vkAAD: a DKGA04-sized vending key as the KMC stores it.
var (
	vk    = make([]byte, 32)
	vkAAD = []byte("vending_key|sgc=123456|kr=1|krn=1")
)

// BenchmarkSeal: sealing one vending key for the database.
func BenchmarkSeal(b *testing.B) {
	_, s := newStore(b)
	b.ReportAllocs()
	for b.Loop() {
		blob, err := s.Seal(ctx, vk, vkAAD)
		if err != nil {
			b.Fatal(err)
		}
		sink = blob
	}
}

// BenchmarkOpen: opening one sealed vending key.
func BenchmarkOpen(b *testing.B) {
	_, s := newStore(b)
	blob, err := s.Seal(ctx, vk, vkAAD)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		pt, err := s.Open(ctx, blob, vkAAD)
		if err != nil {
			b.Fatal(err)
		}
		sink = pt
	}
}

// BenchmarkECDH: one shared secret with a custody key: read the key file,
// open the scalar, build the key (its public point included), ECDH.
func BenchmarkECDH(b *testing.B) {
	_, s := newStore(b)
	if _, err := s.GenerateECDH(ctx, "kmc"); err != nil {
		b.Fatal(err)
	}
	peer, _ := ecdh.P384().GenerateKey(rand.Reader)
	pub := peer.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		z, err := s.ECDH(ctx, "kmc", pub)
		if err != nil {
			b.Fatal(err)
		}
		clear(z)
	}
}

// BenchmarkUnlockProductionKDF measures one unlock of a two-officer store
// made with DefaultKDF (two Argon2id derivations, t=3 m=64 MiB p=4): run it
// with -benchtime=1x for a single measurement. It reports the time per
// officer as well.
func BenchmarkUnlockProductionKDF(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "ks")
	if err := keystore.Init(dir, officers(), keystore.WithKDF(keystore.DefaultKDF())); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		s, err := keystore.Unlock(dir, officers())
		if err != nil {
			b.Fatal(err)
		}
		s.Lock()
		n++
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(2*n), "ms/officer")
}
