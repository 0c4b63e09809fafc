//go:build !cgo

package pkcs11

import (
	"context"

	"github.com/stskms/stskms/keystore"
)

// ReadData returns keystore.ErrLocked: there is no token.
func (t *Token) ReadData(context.Context, string) ([]byte, error) { return nil, keystore.ErrLocked }

// WriteData returns keystore.ErrLocked: there is no token.
func (t *Token) WriteData(context.Context, string, []byte) error { return keystore.ErrLocked }
