package misty1

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stskms/stskms/internal/testvec"
)

// stsDecoderKey is a decoder key from the public STS 531-1-0 compliance
// tests, where MISTY1 is EA11. Its tokens cannot be checked here, so it is
// used only for round-trip properties; the RFC 2994 vectors are the KATs.
var stsDecoderKey = mustDecodeHex("f94b6ed353c3bfdb113e2d3a7ea3c41d")

// vector is one known-answer test from testdata/rfc2994.json.
type vector struct {
	ID            string `json:"id"`
	Source        string `json:"source"`
	KeyHex        string `json:"key_hex"`
	PlaintextHex  string `json:"plaintext_hex"`
	CiphertextHex string `json:"ciphertext_hex"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	var vectors []vector
	testvec.Load(tb, "testdata/rfc2994.json", &vectors)
	if len(vectors) == 0 {
		tb.Fatal("testdata/rfc2994.json holds no vectors")
	}
	return vectors
}

func mustDecodeHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func mustNew(tb testing.TB, key []byte) *Cipher {
	tb.Helper()
	c, err := New(key)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestRFC2994Vectors(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.ID, func(t *testing.T) {
			t.Parallel()
			c := mustNew(t, mustDecodeHex(v.KeyHex))
			plaintext, ciphertext := mustDecodeHex(v.PlaintextHex), mustDecodeHex(v.CiphertextHex)
			checkVector(t, c, plaintext, ciphertext)
		})
	}
}

// checkVector checks that c maps plaintext to ciphertext and back through
// both the byte and the uint64 API.
func checkVector(t *testing.T, c *Cipher, plaintext, ciphertext []byte) {
	t.Helper()
	got := make([]byte, BlockSize)
	if c.Encrypt(got, plaintext); !bytes.Equal(got, ciphertext) {
		t.Errorf("Encrypt(%x) = %x, want %x", plaintext, got, ciphertext)
	}
	if c.Decrypt(got, ciphertext); !bytes.Equal(got, plaintext) {
		t.Errorf("Decrypt(%x) = %x, want %x", ciphertext, got, plaintext)
	}
	p, ct := binary.BigEndian.Uint64(plaintext), binary.BigEndian.Uint64(ciphertext)
	if got := c.Encrypt64(p); got != ct {
		t.Errorf("Encrypt64(%016x) = %016x, want %016x", p, got, ct)
	}
	if got := c.Decrypt64(ct); got != p {
		t.Errorf("Decrypt64(%016x) = %016x, want %016x", ct, got, p)
	}
}

func TestRoundTripRandom(t *testing.T) {
	t.Parallel()
	rng := rand.NewChaCha8([32]byte{'m', 'i', 's', 't', 'y', '1'})
	keys := [][]byte{stsDecoderKey}
	for range 64 {
		key := make([]byte, KeySize)
		rng.Read(key)
		keys = append(keys, key)
	}
	for _, key := range keys {
		c := mustNew(t, key)
		for range 64 {
			checkRoundTrip(t, c, rng.Uint64())
		}
	}
}

// checkRoundTrip checks that Decrypt64 inverts Encrypt64 on block and that
// the byte API, used in place, computes the same permutation.
func checkRoundTrip(t *testing.T, c *Cipher, block uint64) {
	t.Helper()
	encrypted := c.Encrypt64(block)
	if got := c.Decrypt64(encrypted); got != block {
		t.Fatalf("Decrypt64(Encrypt64(%016x)) = %016x", block, got)
	}
	buf := binary.BigEndian.AppendUint64(nil, block)
	if c.Encrypt(buf, buf); binary.BigEndian.Uint64(buf) != encrypted {
		t.Fatalf("Encrypt(%016x) = %x, Encrypt64 gave %016x", block, buf, encrypted)
	}
	if c.Decrypt(buf, buf); binary.BigEndian.Uint64(buf) != block {
		t.Fatalf("Decrypt(%016x) = %x, want %016x", encrypted, buf, block)
	}
}

func TestKeySizeError(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 8, 15, 17, 32} {
		key := bytes.Repeat([]byte{0xa5}, n)
		c, err := New(key)
		if c != nil {
			t.Errorf("New(%d-byte key) returned a Cipher", n)
		}
		kse, ok := errors.AsType[KeySizeError](err)
		if !ok || int(kse) != n {
			t.Fatalf("New(%d-byte key) error = %v, want KeySizeError(%d)", n, err, n)
		}
		if want := "misty1: invalid key size " + strconv.Itoa(n); err.Error() != want {
			t.Errorf("error text = %q, want %q", err.Error(), want)
		}
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)[0]
	key, plaintext, ciphertext := mustDecodeHex(v.KeyHex), mustDecodeHex(v.PlaintextHex), mustDecodeHex(v.CiphertextHex)
	c := mustNew(t, stsDecoderKey)

	if err := c.Reset(key); err != nil {
		t.Fatal(err)
	}
	checkVector(t, c, plaintext, ciphertext)

	if _, ok := errors.AsType[KeySizeError](c.Reset(key[:15])); !ok {
		t.Fatal("Reset(15-byte key) did not return a KeySizeError")
	}
	checkVector(t, c, plaintext, ciphertext) // a rejected key leaves c unchanged
}

// TestNoAllocations is not parallel: testing.AllocsPerRun forbids it.
func TestNoAllocations(t *testing.T) {
	c := mustNew(t, stsDecoderKey)
	buf := make([]byte, BlockSize)
	ops := map[string]func(){
		"Reset":     func() { _ = c.Reset(stsDecoderKey) },
		"Encrypt64": func() { _ = c.Encrypt64(0x0123456789abcdef) },
		"Decrypt64": func() { _ = c.Decrypt64(0x0123456789abcdef) },
		"Encrypt":   func() { c.Encrypt(buf, buf) },
		"Decrypt":   func() { c.Decrypt(buf, buf) },
	}
	for name, op := range ops {
		if allocs := testing.AllocsPerRun(100, op); allocs != 0 {
			t.Errorf("%s allocates %v times, want 0", name, allocs)
		}
	}
}

func TestShortBuffersPanic(t *testing.T) {
	t.Parallel()
	c := mustNew(t, stsDecoderKey)
	full, short := make([]byte, BlockSize), make([]byte, BlockSize-1)
	calls := map[string]func(){
		"Encrypt short src": func() { c.Encrypt(full, short) },
		"Encrypt short dst": func() { c.Encrypt(short, full) },
		"Decrypt short src": func() { c.Decrypt(full, short) },
		"Decrypt short dst": func() { c.Decrypt(short, full) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			call()
		})
	}
}

func TestSBoxesArePermutations(t *testing.T) {
	t.Parallel()
	if !isPermutation(s7[:]) {
		t.Error("S7 is not a permutation of 0..127")
	}
	if !isPermutation(s9[:]) {
		t.Error("S9 is not a permutation of 0..511")
	}
}

// TestFIMatchesRFC checks the table-folded fi against the FI function as
// RFC 2994 writes it, over every input and a spread of keys.
func TestFIMatchesRFC(t *testing.T) {
	t.Parallel()
	for _, key := range []uint16{0x0000, 0xffff, 0xfe00, 0x01ff, 0x8b1d, 0x04b6} {
		for in := range 1 << 16 {
			if got, want := fi(uint16(in), key), rfcFI(uint16(in), key); got != want {
				t.Fatalf("fi(%#04x, %#04x) = %#04x, want %#04x", in, key, got, want)
			}
		}
	}
}

// rfcFI is FI transcribed step by step from RFC 2994.
func rfcFI(in, key uint16) uint16 {
	d9 := in >> 7
	d7 := in & 0x7f
	d9 = s9[d9] ^ d7
	d7 = uint16(s7[d7]) ^ d9
	d7 = d7 & 0x7f
	d7 = d7 ^ key>>9
	d9 = d9 ^ key&0x1ff
	d9 = s9[d9] ^ d7
	return d7<<9 | d9
}

func isPermutation[T uint8 | uint16](table []T) bool {
	seen := make([]bool, len(table))
	for _, v := range table {
		if int(v) >= len(table) || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

func FuzzRoundTrip(f *testing.F) {
	for _, v := range loadVectors(f) {
		key := mustDecodeHex(v.KeyHex)
		for _, block := range []string{v.PlaintextHex, v.CiphertextHex} {
			f.Add(key, binary.BigEndian.Uint64(mustDecodeHex(block)))
		}
	}
	f.Fuzz(func(t *testing.T, key []byte, block uint64) {
		if len(key) < KeySize {
			return
		}
		checkRoundTrip(t, mustNew(t, key[:KeySize]), block)
	})
}

func BenchmarkEncrypt64(b *testing.B) {
	c := mustNew(b, stsDecoderKey)
	b.ReportAllocs()
	block := uint64(0x0123456789abcdef)
	for b.Loop() {
		block = c.Encrypt64(block)
	}
}

func BenchmarkDecrypt64(b *testing.B) {
	c := mustNew(b, stsDecoderKey)
	b.ReportAllocs()
	block := uint64(0x0123456789abcdef)
	for b.Loop() {
		block = c.Decrypt64(block)
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(stsDecoderKey); err != nil {
			b.Fatal(err)
		}
	}
}
