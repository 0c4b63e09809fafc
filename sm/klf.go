package sm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// The SM side of the key-loading protocol (docs/formats.md §7,
// kms-records.md §3.4–3.5) is package keyload's, run with Z, the shared
// secret of the module's key and the KMC's, computed inside key custody
// (Custody.ECDH): the module's private key never leaves it.

// newRequest makes the VKLOAD.REQ.1 for a KMC key at time at.
func (m *Module) newRequest(ctx context.Context, kmc *records.PKECDH, at time.Time) (*records.VKLoadReq, error) {
	req := &records.VKLoadReq{SMID: m.ident.SMID, KMCID: kmc.KMCID, Time: at.UTC().Truncate(time.Second),
		Model: Model, Firmware: FirmwareSTS6, PublicKey: m.ident.PublicKey}
	z, err := m.custody.ECDH(ctx, keyName, kmc.PublicKey)
	if err != nil {
		return nil, err
	}
	defer clear(z)
	if err := keyload.SignRequest(z, req); err != nil {
		return nil, err
	}
	return req, nil
}

// openKLF checks a Key Load File (one-line bodies, in order) against the
// pending request of a slot and returns every vending key in it, or none
// (keyload.OpenUnder), with keyload's errors as the module's codes.
func (m *Module) openKLF(ctx context.Context, kmc *records.PKECDH, tReq time.Time, bodies []string) ([]keyload.VendingKey, error) {
	z, err := m.custody.ECDH(ctx, keyName, kmc.PublicKey)
	if err != nil {
		return nil, err
	}
	defer clear(z)
	keys, err := keyload.OpenUnder(z, m.ident.SMID, keyload.Pending{KMC: kmc, RequestTime: tReq}, bodies)
	if err != nil {
		return nil, klfError(err)
	}
	return keys, nil
}

// klfError maps an error of keyload.OpenUnder to the module's code
// (kms-records.md §3.5): another request's file 26, a bad MAC, key wrap or
// KCV 77, a malformed file 49.
func klfError(err error) error {
	var fe *records.FieldError
	switch {
	case errors.Is(err, keyload.ErrWrongSM), errors.Is(err, keyload.ErrWrongKMC), errors.Is(err, keyload.ErrNotPending):
		return refuseCause(ErrNotPending, err, "")
	case errors.Is(err, keyagree.ErrMACMismatch), errors.Is(err, keyagree.ErrUnwrap), errors.Is(err, keyload.ErrKCV):
		return refuseCause(ErrMAC, err, "")
	case errors.Is(err, keyload.ErrStructure), errors.Is(err, records.ErrCRC), errors.As(err, &fe),
		errors.Is(err, keyagree.ErrField), errors.Is(err, keyagree.ErrLength):
		return refuseCause(ErrFormat, err, "")
	}
	return err
}

// checkVendingKey applies the module's load rules to one key's attributes
// (kms-records.md §3.5: every attribute in range, else 94).
func (m *Module) checkVendingKey(seq int, k *keyload.VendingKey) error {
	bad := func(format string, args ...any) error {
		return refuse(ErrAttribute, "VK.1 number %d (%v): %s", seq, k, fmt.Sprintf(format, args...))
	}
	if k.KT == int(sts.DITK) && m.ident.Variant == Vending {
		return bad("a vending module refuses initialization keys (KT 0), which are for manufacturing modules")
	}
	if k.KT < 0 || k.KT > int(sts.DCTK) {
		return bad("key type %d", k.KT)
	}
	alg := dkga.Algorithm(k.DKGA)
	if alg != dkga.DKGA02 && alg != dkga.DKGA04 {
		return bad("DKGA%02d is not supported (DKGA02, DKGA04)", k.DKGA)
	}
	if len(k.Key) != alg.VendingKeySize() {
		return bad("a DKGA%s vending key has %d bytes, this one %d", alg, alg.VendingKeySize(), len(k.Key))
	}
	ea := sts.EA(k.EA)
	if ea.KeySize() == 0 {
		return bad("EA%02d", k.EA)
	}
	if alg == dkga.DKGA02 && ea.KeySize() != 8 {
		return bad("DKGA02 makes 64-bit decoder keys, EA%s needs %d bytes", ea, ea.KeySize())
	}
	if !sts.BaseDate(k.BDT).Valid() {
		return bad("base date %d", k.BDT)
	}
	if err := errors.Join(sts.CheckSGC(int64(k.SGC)), sts.CheckKRN(int64(k.KRN))); err != nil {
		return bad("%v", err)
	}
	if k.KEN < 0 || k.KEN > 255 {
		return bad("KEN %d out of range 0..255", k.KEN)
	}
	if !k.ACT.Before(k.IUT) {
		return bad("activation %s is not before issue-until %s", k.ACT.Format(records.TimeLayout), k.IUT.Format(records.TimeLayout))
	}
	return nil
}

// KLFBodies returns the one-line records of a Key Load File given as a
// file-of-records (the .klf attachment) or as a mail body holding the
// records in Record-in-Email form.
func KLFBodies(data []byte) ([]string, error) {
	blocks, err := armor.ParseFile(data)
	if err != nil {
		var found error
		if blocks, found = armor.Find(data); found != nil || len(blocks) == 0 {
			return nil, refuseCause(ErrFormat, errors.Join(err, found), "not a file of records")
		}
	}
	bodies := make([]string, len(blocks))
	for i, b := range blocks {
		bodies[i] = b.Body
	}
	return bodies, nil
}
