// Package custodytest is the contract every keystore.Custody keeps, as
// tests: ECDH agreeing with crypto/ecdh, signatures verifying with
// crypto/ecdsa and signing keys kept apart from ECDH keys, names, Seal and
// Open (every
// altered byte, other additional data, another store), persistence across
// Lock and a new unlock, Delete, Lock refusing everything, Lock racing
// with use, concurrent use, and a done context. The sealed file store
// (package keystore) and the PKCS#11 token (keystore/pkcs11) run the same
// tests through Run, and the same benchmarks through Bench.
package custodytest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stskms/stskms/keystore"
)

// Backend makes the custodies under test.
type Backend struct {
	// New returns a new, empty, unlocked custody; each call in one test a
	// different store (another storage key). It locks it at cleanup.
	New func(t *testing.T) keystore.Custody
	// Reopen locks c and returns the same store unlocked again (a new
	// process would do the same).
	Reopen func(t *testing.T, c keystore.Custody) keystore.Custody
	// Secret, if not nil, is told every secret the tests handle (shared
	// secrets, plaintexts), so that the caller can check no output holds
	// one.
	Secret func([]byte)
	// Output, if not nil, is told every error message the tests see.
	Output func(string)
	// SealOverhead is how many bytes Seal adds (keystore.SealOverhead
	// for both stores of this project).
	SealOverhead int
}

// Run runs the contract as subtests of t.
func Run(t *testing.T, b Backend) {
	c := &contract{b: b}
	t.Run("ECDH", c.ecdh)
	t.Run("Sign", c.sign)
	t.Run("Names", c.names)
	t.Run("SealOpen", c.sealOpen)
	t.Run("Persist", c.persist)
	t.Run("Delete", c.delete)
	t.Run("Lock", c.lock)
	t.Run("LockDuringUse", c.lockDuringUse)
	t.Run("Concurrent", c.concurrent)
	t.Run("ContextDone", c.contextDone)
}

type contract struct{ b Backend }

var ctx = context.Background()

func (c *contract) secret(b []byte) {
	if c.b.Secret != nil {
		c.b.Secret(b)
	}
}

// expect fails t unless errors.Is(err, target), and reports the message.
func (c *contract) expect(t *testing.T, err, target error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", target)
	}
	if c.b.Output != nil {
		c.b.Output(err.Error())
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %q, want %v", err, target)
	}
}

// must fails t on err.
func (c *contract) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		if c.b.Output != nil {
			c.b.Output(err.Error())
		}
		t.Fatal(err)
	}
}

// agree checks that ECDH of key name with a fresh software peer gives what
// crypto/ecdh gives on the peer's side.
func (c *contract) agree(t *testing.T, s keystore.Custody, name string, pub *ecdh.PublicKey) {
	t.Helper()
	peer, err := ecdh.P384().GenerateKey(rand.Reader)
	c.must(t, err)
	z, err := s.ECDH(ctx, name, peer.PublicKey())
	c.must(t, err)
	c.secret(z)
	want, err := peer.ECDH(pub)
	c.must(t, err)
	if len(z) != 48 || !bytes.Equal(z, want) {
		t.Fatalf("shared secrets differ (%d bytes)", len(z))
	}
}

// generate makes key name in s, or fails t.
func (c *contract) generate(t *testing.T, s keystore.Custody, name string) *ecdh.PublicKey {
	t.Helper()
	pub, err := s.GenerateECDH(ctx, name)
	c.must(t, err)
	return pub
}

func (c *contract) ecdh(t *testing.T) {
	s := c.b.New(t)
	pub := c.generate(t, s, "sm-1")
	if pub.Curve() != ecdh.P384() {
		t.Fatal("not P-384")
	}
	for range 3 {
		c.agree(t, s, "sm-1", pub)
	}
	p, err := s.PublicKey(ctx, "sm-1")
	c.must(t, err)
	if !p.Equal(pub) {
		t.Fatal("PublicKey differs from GenerateECDH's")
	}

	_, err = s.GenerateECDH(ctx, "sm-1")
	c.expect(t, err, keystore.ErrExists)
	_, err = s.GenerateECDH(ctx, "SM-1")
	c.expect(t, err, keystore.ErrExists)
	_, err = s.ECDH(ctx, "sm-2", pub)
	c.expect(t, err, keystore.ErrNotFound)
	_, err = s.PublicKey(ctx, "sm-2")
	c.expect(t, err, keystore.ErrNotFound)

	_, err = s.ECDH(ctx, "sm-1", nil)
	c.expect(t, err, keystore.ErrPeer)
	p256, _ := ecdh.P256().GenerateKey(rand.Reader)
	_, err = s.ECDH(ctx, "sm-1", p256.PublicKey())
	c.expect(t, err, keystore.ErrPeer)
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	_, err = s.ECDH(ctx, "sm-1", x.PublicKey())
	c.expect(t, err, keystore.ErrPeer)

	// Two keys are two keys.
	pub2 := c.generate(t, s, "sm-2")
	if pub2.Equal(pub) {
		t.Fatal("two keys with one public key")
	}
	c.agree(t, s, "sm-2", pub2)
}

func (c *contract) names(t *testing.T) {
	s := c.b.New(t)
	for _, bad := range []string{"", ".", "..", ".hidden", "-x", "_x", "a/b", "../x", `a\b`, "a b", "ä", "a\x00", "a:b", strings.Repeat("x", keystore.MaxNameLen+1)} {
		_, err := s.GenerateECDH(ctx, bad)
		c.expect(t, err, keystore.ErrName)
		_, err = s.PublicKey(ctx, bad)
		c.expect(t, err, keystore.ErrName)
		_, err = s.ECDH(ctx, bad, nil)
		c.expect(t, err, keystore.ErrName)
		c.expect(t, s.Delete(ctx, bad), keystore.ErrName)
	}
	long := strings.Repeat("x", keystore.MaxNameLen)
	c.generate(t, s, long)
	_, err := s.PublicKey(ctx, long)
	c.must(t, err)
}

func (c *contract) sealOpen(t *testing.T) {
	s := c.b.New(t)
	vk := []byte("0123456789abcdef0123456789abcdef")
	c.secret(vk)
	aad := []byte("vending_keys|sgc=123456|krn=1")
	blob, err := s.Seal(ctx, vk, aad)
	c.must(t, err)
	if len(blob) != len(vk)+c.b.SealOverhead {
		t.Fatalf("blob is %d bytes, want %d", len(blob), len(vk)+c.b.SealOverhead)
	}
	if bytes.Contains(blob, vk[:8]) {
		t.Fatal("plaintext visible in blob")
	}
	pt, err := s.Open(ctx, blob, aad)
	c.must(t, err)
	if !bytes.Equal(pt, vk) {
		t.Fatal("round trip changed the plaintext")
	}
	blob2, err := s.Seal(ctx, vk, aad)
	c.must(t, err)
	if bytes.Equal(blob, blob2) {
		t.Fatal("two seals of the same plaintext are equal (nonce reuse)")
	}

	// Empty plaintext and empty aad.
	e, err := s.Seal(ctx, nil, nil)
	c.must(t, err)
	pt, err = s.Open(ctx, e, nil)
	c.must(t, err)
	if pt == nil || len(pt) != 0 {
		t.Fatalf("empty round trip gave %v", pt)
	}

	// Any change fails, and says only ErrUnseal.
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x01
		_, err := s.Open(ctx, bad, aad)
		c.expect(t, err, keystore.ErrUnseal)
	}
	for _, bad := range [][]byte{nil, {}, blob[:c.b.SealOverhead-1], blob[:len(blob)-1], append(bytes.Clone(blob), 0)} {
		_, err := s.Open(ctx, bad, aad)
		c.expect(t, err, keystore.ErrUnseal)
	}
	for _, other := range [][]byte{nil, []byte("vending_keys|sgc=123456|krn=2"), append(bytes.Clone(aad), 0)} {
		_, err := s.Open(ctx, blob, other)
		c.expect(t, err, keystore.ErrUnseal)
	}

	// Another store (another storage key) cannot open it.
	s2 := c.b.New(t)
	_, err = s2.Open(ctx, blob, aad)
	c.expect(t, err, keystore.ErrUnseal)
}

func (c *contract) persist(t *testing.T) {
	s := c.b.New(t)
	pub := c.generate(t, s, "kmc")
	blob, err := s.Seal(ctx, []byte("kept across unlocks"), []byte("aad"))
	c.must(t, err)
	s = c.b.Reopen(t, s)
	p, err := s.PublicKey(ctx, "kmc")
	c.must(t, err)
	if !p.Equal(pub) {
		t.Fatal("public key changed across unlock")
	}
	c.agree(t, s, "kmc", pub)
	pt, err := s.Open(ctx, blob, []byte("aad"))
	c.must(t, err)
	if string(pt) != "kept across unlocks" {
		t.Fatal("blob opens to something else after unlock")
	}
	_, err = s.GenerateECDH(ctx, "kmc")
	c.expect(t, err, keystore.ErrExists)
}

func (c *contract) delete(t *testing.T) {
	s := c.b.New(t)
	c.generate(t, s, "old")
	keep := c.generate(t, s, "keep")
	c.must(t, s.Delete(ctx, "old"))
	_, err := s.PublicKey(ctx, "old")
	c.expect(t, err, keystore.ErrNotFound)
	peer, _ := ecdh.P384().GenerateKey(rand.Reader)
	_, err = s.ECDH(ctx, "old", peer.PublicKey())
	c.expect(t, err, keystore.ErrNotFound)
	c.expect(t, s.Delete(ctx, "old"), keystore.ErrNotFound)
	c.agree(t, s, "keep", keep)
	// The name may be used again, for a new key.
	pub := c.generate(t, s, "old")
	c.agree(t, s, "old", pub)
	s = c.b.Reopen(t, s)
	c.must(t, s.Delete(ctx, "old"))
	s = c.b.Reopen(t, s)
	_, err = s.PublicKey(ctx, "old")
	c.expect(t, err, keystore.ErrNotFound)
}

func (c *contract) lock(t *testing.T) {
	s := c.b.New(t)
	pub := c.generate(t, s, "k")
	blob, err := s.Seal(ctx, []byte("secret"), nil)
	c.must(t, err)
	test := s.TestMode()
	s.Lock()

	_, err = s.GenerateECDH(ctx, "k2")
	c.expect(t, err, keystore.ErrLocked)
	_, err = s.PublicKey(ctx, "k")
	c.expect(t, err, keystore.ErrLocked)
	_, err = s.ECDH(ctx, "k", pub)
	c.expect(t, err, keystore.ErrLocked)
	_, err = s.ECDH(ctx, "../bad", nil)
	c.expect(t, err, keystore.ErrLocked)
	_, err = s.Seal(ctx, []byte("x"), nil)
	c.expect(t, err, keystore.ErrLocked)
	_, err = s.Open(ctx, blob, nil)
	c.expect(t, err, keystore.ErrLocked)
	c.expect(t, s.Delete(ctx, "k"), keystore.ErrLocked)
	s.Lock() // twice is fine
	if s.TestMode() != test {
		t.Fatal("TestMode changed with Lock")
	}
}

// lockDuringUse: Lock racing with operations; each either completes or
// says ErrLocked, and none succeeds after one said ErrLocked.
func (c *contract) lockDuringUse(t *testing.T) {
	s := c.b.New(t)
	c.generate(t, s, "k")
	peer, _ := ecdh.P384().GenerateKey(rand.Reader)
	var wg, started sync.WaitGroup
	errs := make(chan error, 8*100)
	for i := range 8 {
		started.Add(1)
		wg.Go(func() {
			locked := false
			for j := range 100 {
				if j == 1 {
					started.Done()
				}
				err := c.op(s, i, peer.PublicKey())
				switch {
				case errors.Is(err, keystore.ErrLocked):
					locked = true
				case err != nil:
					errs <- err
				case locked:
					errs <- errors.New("an operation succeeded after ErrLocked")
				}
			}
		})
	}
	started.Wait() // every worker has done one operation
	s.Lock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// op is one operation of worker i on key "k".
func (c *contract) op(s keystore.Custody, i int, peer *ecdh.PublicKey) error {
	switch i % 3 {
	case 0:
		b, err := s.Seal(ctx, []byte("vk"), nil)
		if err == nil {
			_, err = s.Open(ctx, b, nil)
		}
		return err
	case 1:
		_, err := s.ECDH(ctx, "k", peer)
		return err
	}
	_, err := s.PublicKey(ctx, "k")
	return err
}

// concurrent: key pairs made, used and deleted from many goroutines at
// once (run with -race).
func (c *contract) concurrent(t *testing.T) {
	s := c.b.New(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() { errs <- c.worker(s, fmt.Sprintf("w%d", i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// worker makes its key, agrees with a peer, seals and opens, deletes it.
func (c *contract) worker(s keystore.Custody, name string) error {
	pub, err := s.GenerateECDH(ctx, name)
	if err != nil {
		return err
	}
	for range 5 {
		peer, _ := ecdh.P384().GenerateKey(rand.Reader)
		z, err := s.ECDH(ctx, name, peer.PublicKey())
		if err != nil {
			return err
		}
		c.secret(z)
		want, _ := peer.ECDH(pub)
		if !bytes.Equal(z, want) {
			return fmt.Errorf("%s: shared secrets differ", name)
		}
		aad := []byte(name)
		b, err := s.Seal(ctx, want, aad)
		if err != nil {
			return err
		}
		pt, err := s.Open(ctx, b, aad)
		if err != nil {
			return err
		}
		if !bytes.Equal(pt, want) {
			return fmt.Errorf("%s: round trip changed the plaintext", name)
		}
	}
	return s.Delete(ctx, name)
}

func (c *contract) contextDone(t *testing.T) {
	s := c.b.New(t)
	cc, cancel := context.WithCancel(ctx)
	cancel()
	_, err := s.Seal(cc, nil, nil)
	c.expect(t, err, context.Canceled)
	_, err = s.GenerateECDH(cc, "k")
	c.expect(t, err, context.Canceled)
	c.expect(t, s.Delete(cc, "k"), context.Canceled)
	_, err = s.PublicKey(ctx, "k")
	c.expect(t, err, keystore.ErrNotFound)
}

// Live wraps a custody so that it claims to be a production one
// (TestMode false): a live KMC or module can then be tested on a cheap test
// store, without Argon2id's cost. The mode checks themselves are tested
// with real production stores.
func Live(c keystore.Custody) keystore.Custody { return liveCustody{c} }

type liveCustody struct{ keystore.Custody }

func (liveCustody) TestMode() bool { return false }

// sign checks signing keys: ECDSA P-256 signatures of SHA-256 digests
// that crypto/ecdsa verifies, across a reopen; signing and ECDH keys
// share one name space and neither does the other's work; nothing but a
// SHA-256 digest is signed; a locked custody's signer refuses.
func (c *contract) sign(t *testing.T) {
	s := c.b.New(t)
	pub, err := s.GenerateSigner(ctx, "audit")
	c.must(t, err)
	if pub.Curve != elliptic.P256() {
		t.Fatalf("signing key on %s, want P-256", pub.Curve.Params().Name)
	}
	_, err = s.GenerateSigner(ctx, "audit")
	c.expect(t, err, keystore.ErrExists)
	_, err = s.GenerateECDH(ctx, "audit")
	c.expect(t, err, keystore.ErrExists)
	ecdhPub := c.generate(t, s, "agree")
	_, err = s.Signer(ctx, "agree")
	c.expect(t, err, keystore.ErrKeyType)
	_, err = s.GenerateSigner(ctx, "agree")
	c.expect(t, err, keystore.ErrExists)
	_, err = s.PublicKey(ctx, "audit")
	c.expect(t, err, keystore.ErrKeyType)
	if _, err := s.ECDH(ctx, "audit", ecdhPub); err == nil {
		t.Error("ECDH with a signing key succeeded")
	}
	_, err = s.Signer(ctx, "missing")
	c.expect(t, err, keystore.ErrNotFound)

	check := func(s keystore.Custody) crypto.Signer {
		t.Helper()
		k, err := s.Signer(ctx, "audit")
		c.must(t, err)
		if !pub.Equal(k.Public()) {
			t.Fatal("Signer's public key is not the one generated")
		}
		d := sha256.Sum256([]byte("checkpoint"))
		sig, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
		c.must(t, err)
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			t.Fatal("the signature does not verify")
		}
		_, err = k.Sign(rand.Reader, d[:20], crypto.SHA256)
		c.expect(t, err, keystore.ErrKeyType)
		_, err = k.Sign(rand.Reader, d[:], crypto.SHA384)
		c.expect(t, err, keystore.ErrKeyType)
		return k
	}
	check(s)
	s = c.b.Reopen(t, s)
	k := check(s)
	s.Lock()
	d := sha256.Sum256([]byte("after lock"))
	_, err = k.Sign(rand.Reader, d[:], crypto.SHA256)
	c.expect(t, err, keystore.ErrLocked)
}
