package keyagree_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stskms/stskms/keyagree"
)

// FuzzUnwrap feeds arbitrary IVs, ciphertexts and AADs to Unwrap under the
// §3.7 KLF keys. It must never panic, must fail only with ErrLength,
// ErrField or ErrUnwrap, and whatever it accepts must re-wrap to the same
// ciphertext.
func FuzzUnwrap(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.iv, fx.ct, fx.vkAAD)
	f.Add(fx.iv, fx.ct[:len(fx.ct)-1], fx.vkAAD)
	f.Add(fx.iv[:11], fx.ct, fx.vkAAD)
	f.Add(fx.iv, fx.ct, "VK.1|")
	f.Add([]byte{}, []byte{}, "")
	f.Add(make([]byte, keyagree.IVSize), make([]byte, keyagree.GCMTagSize+keyagree.MaxVendingKeySize), "|")
	f.Fuzz(func(t *testing.T, iv, ct []byte, aad string) {
		vk, err := fx.keys.Unwrap(iv, ct, aad)
		if err != nil {
			if !errors.Is(err, keyagree.ErrUnwrap) && !errors.Is(err, keyagree.ErrLength) && !errors.Is(err, keyagree.ErrField) {
				t.Fatalf("unexpected error %v", err)
			}
			if vk != nil {
				t.Fatal("plaintext returned with an error")
			}
			return
		}
		again, err := fx.keys.Wrap(iv, vk, aad)
		if err != nil {
			t.Fatalf("accepted ciphertext does not re-wrap: %v", err)
		}
		if !bytes.Equal(again, ct) {
			t.Fatalf("re-wrap = %X, want %X", again, ct)
		}
	})
}
