//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/stskms/stskms/keystore"
)

// Data objects: small values the component keeps in the token beside its
// keys (the latest signed audit checkpoint, internal/keptcheckpoint), as
// private, modifiable CKO_DATA token objects labelled
// "stskms/NAMESPACE/data/NAME". They are not secret, only out of reach of
// whoever can write the component's database and directory.

func (t *Token) dataLabel(name string) []byte { return []byte(t.prefix() + "data/" + name) }

// ReadData returns the value of the data object named name
// (keystore.ErrNotFound if there is none).
func (t *Token) ReadData(ctx context.Context, name string) ([]byte, error) {
	if err := t.rlock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	sh, err := t.raw.OpenSession(t.slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, deviceError("open session", err)
	}
	defer t.raw.CloseSession(sh)
	obj, err := t.findData(sh, name)
	if err != nil {
		return nil, err
	}
	attrs, err := t.raw.GetAttributeValue(sh, obj, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil || len(attrs) != 1 {
		return nil, deviceError("read data "+name, err)
	}
	return attrs[0].Value, nil
}

// WriteData sets the value of the data object named name, making it the
// first time.
func (t *Token) WriteData(ctx context.Context, name string, value []byte) error {
	if err := t.wlock(ctx); err != nil {
		return err
	}
	defer t.mu.Unlock()
	sh, err := t.raw.OpenSession(t.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return deviceError("open session", err)
	}
	defer t.raw.CloseSession(sh)
	old, err := t.findData(sh, name)
	if err != nil && !errors.Is(err, keystore.ErrNotFound) {
		return err
	}
	// Tokens keep CKA_VALUE read-only (SoftHSM2 does): the new object is
	// made first, then the old one destroyed, so that one is always there.
	_, err = t.raw.CreateObject(sh, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_DATA),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_LABEL, t.dataLabel(name)),
		p11.NewAttribute(p11.CKA_APPLICATION, []byte("stskms")),
		p11.NewAttribute(p11.CKA_VALUE, value),
	})
	if err != nil {
		return deviceError("write data "+name, err)
	}
	if old != 0 {
		if err := t.raw.DestroyObject(sh, old); err != nil {
			return deviceError("replace data "+name, err)
		}
	}
	return nil
}

// findData returns the handle of the data object named name.
func (t *Token) findData(sh p11.SessionHandle, name string) (p11.ObjectHandle, error) {
	if err := keystore.CheckName(name); err != nil {
		return 0, err
	}
	return t.findOne(sh, p11.CKO_DATA, t.dataLabel(name), "find data "+name,
		fmt.Errorf("%w: data %q", keystore.ErrNotFound, name),
		fmt.Errorf("%w: several data objects labelled %q", keystore.ErrCorrupt, name))
}
