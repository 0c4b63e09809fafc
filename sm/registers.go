package sm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
	"github.com/stskms/stskms/sts/dkga"
)

// RegisterKey names a vending key register: supply group code, key
// revision number and key type (0 initialization, 1 VDDK, 2 VUDK,
// 3 VCDK; a decoder key derived from it has the same type number: DITK,
// DDTK, DUTK, DCTK).
type RegisterKey struct {
	SGC uint32      `json:"sgc"`
	KRN uint8       `json:"krn"`
	KT  sts.KeyType `json:"kt"`
}

// String returns e.g. "SGC 123456 KRN 1 KT 2".
func (k RegisterKey) String() string {
	return fmt.Sprintf("SGC %06d KRN %d KT %d", k.SGC, k.KRN, k.KT)
}

// Register is a vending key register as listed: its attributes, never its
// key. The key is stored sealed (keystore.Custody.Seal) with every
// attribute below except CLM as additional data, so an attribute changed in
// the database makes the key unusable rather than misused.
type Register struct {
	RegisterKey
	BDT       sts.BaseDate   `json:"bdt"`
	DKGA      dkga.Algorithm `json:"dkga"`
	EA        sts.EA         `json:"ea"`
	KEN       uint8          `json:"ken"`
	ACT       time.Time      `json:"act"`
	IUT       time.Time      `json:"iut"`
	CLM       uint32         `json:"clm"`        // credit limit left
	CLMLoaded uint32         `json:"clm_loaded"` // credit limit as loaded
	KCV       string         `json:"kcv"`        // key check value, 6 hex digits
	Slot      int            `json:"slot"`       // KEK slot it was loaded through
	KMCID     string         `json:"kmcid"`      // KMC that issued it
	Loaded    time.Time      `json:"loaded"`
	gen       int64
	sealed    []byte
}

// registerColumns are the columns scanRegister reads, in order.
const registerColumns = `sgc, krn, kt, bdt, dkga, ea, ken, act_ns, iut_ns, clm, clm_loaded, kcv, slot, kmcid, loaded_ns, gen, sealed`

func scanRegister(row store.Scanner) (Register, error) {
	var r Register
	var sgc, krn, kt, bdt, alg, ea, ken, act, iut, clm, clmLoaded, slot, loaded int64
	if err := row.Scan(&sgc, &krn, &kt, &bdt, &alg, &ea, &ken, &act, &iut, &clm, &clmLoaded, &r.KCV, &slot,
		&r.KMCID, &loaded, &r.gen, &r.sealed); err != nil {
		return r, err
	}
	r.SGC, r.KRN, r.KT = uint32(sgc), uint8(krn), sts.KeyType(kt)
	r.BDT, r.DKGA, r.EA, r.KEN = sts.BaseDate(bdt), dkga.Algorithm(alg), sts.EA(ea), uint8(ken)
	r.ACT, r.IUT, r.Loaded = time.Unix(0, act).UTC(), time.Unix(0, iut).UTC(), time.Unix(0, loaded).UTC()
	r.CLM, r.CLMLoaded, r.Slot = uint32(clm), uint32(clmLoaded), int(slot)
	return r, nil
}

// aad is the additional data the register's key is sealed with: the
// module, and every attribute but the credit limit left.
func (r *Register) aad(smid string) []byte {
	return fmt.Appendf(nil, "stskms-sm/vk/v1|%s|%06d|%d|%d|%d|%02d|%02d|%d|%d|%d|%d|%s|%d|%s",
		smid, r.SGC, r.KRN, r.KT, r.BDT, r.DKGA, r.EA, r.KEN, r.ACT.UnixNano(), r.IUT.UnixNano(),
		r.CLMLoaded, r.KCV, r.Slot, r.KMCID)
}

// registerFrom makes a register of a loaded vending key.
func registerFrom(k keyload.VendingKey, kcv []byte, slot int, kmcid string, loaded time.Time) Register {
	return Register{
		RegisterKey: RegisterKey{SGC: uint32(k.SGC), KRN: uint8(k.KRN), KT: sts.KeyType(k.KT)},
		BDT:         sts.BaseDate(k.BDT), DKGA: dkga.Algorithm(k.DKGA), EA: sts.EA(k.EA), KEN: uint8(k.KEN),
		ACT: k.ACT.UTC(), IUT: k.IUT.UTC(), CLM: k.CLM, CLMLoaded: k.CLM, KCV: fmt.Sprintf("%X", kcv),
		Slot: slot, KMCID: kmcid, Loaded: loaded.UTC(),
	}
}

// Registers lists the vending key registers in (SGC, KRN, KT) order,
// without key material.
func (m *Module) Registers(ctx context.Context, a Actor) ([]Register, error) {
	if err := m.ready(a, "register.list"); err != nil {
		return nil, err
	}
	var out []Register
	err := m.eachRegister(ctx, func(r Register) error {
		r.sealed = nil
		out = append(out, r)
		return nil
	})
	return out, err
}

// eachRegister calls fn with each register, in (SGC, KRN, KT) order.
func (m *Module) eachRegister(ctx context.Context, fn func(Register) error) error {
	return eachRow(ctx, m.db, `SELECT `+registerColumns+` FROM sm_register ORDER BY sgc, krn, kt`, scanRegister, fn)
}

// register reads one register.
func (m *Module) register(ctx context.Context, k RegisterKey) (Register, error) {
	r, err := scanRegister(m.db.QueryRow(ctx, `SELECT `+registerColumns+` FROM sm_register WHERE sgc = $1 AND krn = $2 AND kt = $3`,
		int64(k.SGC), int64(k.KRN), int64(k.KT)))
	if errors.Is(err, store.ErrNotFound) {
		return r, refuse(ErrNoRegister, "%v", k)
	}
	return r, err
}

// checkTime enforces ACT ≤ now ≤ IUT.
func (r *Register) checkTime(now time.Time) error {
	switch {
	case now.Before(r.ACT):
		return refuse(ErrBeforeACT, "%v active from %s", r.RegisterKey, r.ACT.Format(time.RFC3339))
	case now.After(r.IUT):
		return refuse(ErrAfterIUT, "%v issued until %s", r.RegisterKey, r.IUT.Format(time.RFC3339))
	}
	return nil
}

// vendingKey unseals the register's key, or copies it from the cache
// (cache.go) if it was unsealed from the same sealed key and attributes;
// the caller clears it.
func (m *Module) vendingKey(ctx context.Context, r *Register) ([]byte, error) {
	aad := r.aad(m.ident.SMID.String())
	if vk, ok := m.cache.key(r, aad); ok {
		return vk, nil
	}
	vk, err := m.openVendingKey(ctx, r, aad)
	if err != nil {
		return nil, err
	}
	m.cache.put(r, aad, vk)
	return vk, nil
}

// openVendingKey unseals the register's key from custody; the caller
// clears it.
func (m *Module) openVendingKey(ctx context.Context, r *Register, aad []byte) ([]byte, error) {
	vk, err := m.custody.Open(ctx, r.sealed, aad)
	if err != nil {
		return nil, refuseCause(ErrIntegrity, err, "the key of %v does not open with its attributes", r.RegisterKey)
	}
	return vk, nil
}

// checkRegister is the integrity check of one register: its key opens
// from custody with its attributes and matches its KCV.
func (m *Module) checkRegister(ctx context.Context, r *Register) error {
	vk, err := m.openVendingKey(ctx, r, r.aad(m.ident.SMID.String()))
	if err != nil {
		return err
	}
	defer clear(vk)
	kcv, err := keyagree.KCV(vk)
	if err != nil || fmt.Sprintf("%X", kcv) != r.KCV {
		return refuse(ErrIntegrity, "the key of %v does not match its KCV", r.RegisterKey)
	}
	return nil
}

// decoderCipher derives the token cipher of a meter under a register: the
// decoder key (DKGA02/04 of the register's vending key and the meter's
// attributes) keyed into the register's encryption algorithm.
func (m *Module) decoderCipher(ctx context.Context, r *Register, pan sts.PAN, ti uint8) (sts.Cipher, error) {
	dk, err := m.decoderKey(ctx, r, r.RegisterKey, pan, ti)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	return m.cipher(r.EA, dk)
}

// decoderKey derives the decoder key a meter with pan and ti holds under
// register r (whose own key names the SGC, KRN and key type).
func (m *Module) decoderKey(ctx context.Context, r *Register, k RegisterKey, pan sts.PAN, ti uint8) ([]byte, error) {
	vk, err := m.vendingKey(ctx, r)
	if err != nil {
		return nil, err
	}
	defer clear(vk)
	g, err := dkga.New(r.DKGA, vk)
	if err != nil {
		return nil, refuseCause(ErrAttribute, err, "%v", r.RegisterKey)
	}
	dk, err := g.DecoderKey(dkga.Params{KeyType: k.KT, SGC: k.SGC, TI: ti, KRN: k.KRN, PAN: pan, BaseDate: r.BDT, EA: r.EA})
	if err != nil {
		return nil, refuseCause(ErrRange, err, "decoder key parameters")
	}
	return dk, nil
}

func (m *Module) cipher(ea sts.EA, dk []byte) (sts.Cipher, error) {
	if ea == sts.EA07 && m.tables == nil {
		return nil, refuse(ErrNoTables, "give the operator's STA tables to issue EA07 tokens")
	}
	c, err := sts.NewCipher(ea, dk, m.tables)
	if err != nil {
		return nil, refuseCause(ErrAttribute, err, "EA%s", ea)
	}
	return c, nil
}
