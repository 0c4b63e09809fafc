//go:build !cgo

package pkcs11_test

import (
	"errors"
	"testing"

	"github.com/stskms/stskms/keystore/pkcs11"
)

// TestNoCgo: built without cgo, Init and Open refuse with ErrNoCgo (after
// checking the configuration), and Available says so.
func TestNoCgo(t *testing.T) {
	if pkcs11.Available {
		t.Fatal("Available without cgo")
	}
	for _, f := range []func(pkcs11.Config, []byte) (*pkcs11.Token, error){pkcs11.Init, pkcs11.Open} {
		if _, err := f(goodConfig, []byte("1234")); !errors.Is(err, pkcs11.ErrNoCgo) {
			t.Fatalf("without cgo: %v", err)
		}
		if _, err := f(pkcs11.Config{}, []byte("1234")); !errors.Is(err, pkcs11.ErrConfig) {
			t.Fatalf("an invalid configuration without cgo: %v", err)
		}
	}
}
