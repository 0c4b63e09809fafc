//go:build cgo

package pkcs11_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stskms/stskms/keystore"
)

// TestDataObjects: a data object is missing until written, replaced by a
// later write, survives a reopen, is private to its namespace, and a bad
// name is refused.
func TestDataObjects(t *testing.T) {
	ctx := context.Background()
	h := newHSM(t)
	tok, other := h.custody(), h.custody()
	if _, err := tok.ReadData(ctx, "cp"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("unwritten: %v", err)
	}
	for _, v := range []string{"first", "second, longer value"} {
		if err := tok.WriteData(ctx, "cp", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := tok.ReadData(ctx, "cp"); err != nil || string(got) != v {
			t.Fatalf("read %q, %v; want %q", got, err, v)
		}
	}
	tok = h.reopen(tok)
	if got, err := tok.ReadData(ctx, "cp"); err != nil || string(got) != "second, longer value" {
		t.Fatalf("after reopen: %q, %v", got, err)
	}
	if _, err := other.ReadData(ctx, "cp"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("another namespace reads it: %v", err)
	}
	if err := tok.WriteData(ctx, "a/b", nil); err == nil {
		t.Fatal("a name with a slash was accepted")
	}
}
