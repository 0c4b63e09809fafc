package kmc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
)

// MaxSGC is the largest supply group code (6 digits).
const MaxSGC = sts.MaxSGC

// MaxKRN is the largest key revision number (sts.MaxKRN); KRNs cycle 1,
// 2, …, 9, 1, ….
const MaxKRN = sts.MaxKRN

// SupplyGroup is a supply group: the utility's group of meters that share
// vending keys, named by its SGC.
type SupplyGroup struct {
	SGC       int
	Name      string
	CreatedAt time.Time
	CreatedBy string
}

// AddSupplyGroup registers a supply group. The SGC is 0 to 999999
// (printed with 6 digits); the name is free text for operators (at most
// 128 bytes of printable characters). ErrExists if the SGC is known.
func (k *KMC) AddSupplyGroup(ctx context.Context, actor string, sgc int, name string) (SupplyGroup, error) {
	if err := sts.CheckSGC(int64(sgc)); err != nil {
		return SupplyGroup{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := checkText("supply group name", name, 128); err != nil {
		return SupplyGroup{}, err
	}
	sg := SupplyGroup{SGC: sgc, Name: name, CreatedAt: k.now().UTC().Truncate(time.Second), CreatedBy: actor}
	err := k.tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO supply_groups (sgc, name, created_at, created_by) VALUES ($1, $2, $3, $4)`,
			sgc, name, sg.CreatedAt.Unix(), actor)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: supply group %06d", ErrExists, sgc)
		}
		if err != nil {
			return err
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "sgc.add", Subject: sgcText(sgc),
			Details: map[string]any{"sgc": sgcText(sgc), "name": name}})
		return err
	})
	if err != nil {
		return SupplyGroup{}, failed("add supply group", err)
	}
	return sg, nil
}

// SupplyGroups returns every supply group in SGC order.
func (k *KMC) SupplyGroups(ctx context.Context) ([]SupplyGroup, error) {
	var out []SupplyGroup
	err := eachRow(ctx, k.db, "read supply groups", `SELECT sgc, name, created_at, created_by FROM supply_groups ORDER BY sgc`, nil,
		func(row store.Scanner) error {
			var sg SupplyGroup
			var sgc, at int64
			if err := row.Scan(&sgc, &sg.Name, &at, &sg.CreatedBy); err != nil {
				return failed("read supply groups", err)
			}
			sg.SGC, sg.CreatedAt = int(sgc), time.Unix(at, 0).UTC()
			out = append(out, sg)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func sgcText(sgc int) string { return fmt.Sprintf("%06d", sgc) }

// checkText accepts printable ASCII and UTF-8 text without control
// characters, at most max bytes.
func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalid, what, len(s), max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7F || r == 0xFFFD {
			return fmt.Errorf("%w: %s holds a control or invalid character", ErrInvalid, what)
		}
	}
	return nil
}

// VKAttributes are a vending key's attributes, as VK.1 carries them
// (kms-records.md §3.5), and EXP, which only the KMC knows.
type VKAttributes struct {
	// SGC is the supply group code (a supply group added before).
	SGC int
	// KRN is the key revision number, 1 to 9. Zero when generating or
	// importing means the next in the supply group's cycle for this key
	// type: one after the last key's KRN, 9 followed by 1.
	KRN int
	// Type is the key type.
	Type KeyType
	// BDT is the base date year: 1993, 2014 or 2035.
	BDT int
	// DKGA is the decoder key generation algorithm, 2 (8-byte DES vending
	// key) or 4 (20-byte vending key).
	DKGA int
	// EA is the encryption algorithm: 7, 9 or 11 (DKGA02 only 7 or 9).
	EA int
	// KEN is the key expiry number, 0 to 255.
	KEN int
	// ACT is the activation time: the SM refuses the key before it.
	ACT time.Time
	// EXP is when the KMC stops issuing the key in Key Load Files.
	EXP time.Time
	// IUT is the issue-until time: the SM refuses the key after it.
	IUT time.Time
	// CLM is the credit limit (0xFFFFFFFF: none).
	CLM uint32
}

// KeySize returns the length of the vending key of the attributes' DKGA.
func (a VKAttributes) KeySize() int {
	switch a.DKGA {
	case 2:
		return 8
	case 4:
		return 20
	}
	return 0
}

// Check reports whether a new key may have the attributes a, as
// GenerateVendingKey and StartImport check them (KRN 0: the next), with
// ErrInvalid saying why not: before two officers sign an import of a key
// that could not be made.
func (a VKAttributes) Check() error { return a.check(true) }

// check validates the attributes (KRN 0 allowed when auto is set) and
// truncates the times to UTC seconds.
func (a *VKAttributes) check(auto bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case sts.CheckSGC(int64(a.SGC)) != nil:
		return fmt.Errorf("%w: %w", ErrInvalid, sts.CheckSGC(int64(a.SGC)))
	case sts.CheckKRN(int64(a.KRN)) != nil && (a.KRN != 0 || !auto):
		return fmt.Errorf("%w: %w", ErrInvalid, sts.CheckKRN(int64(a.KRN)))
	case !a.Type.valid():
		return bad("key type %d", int(a.Type))
	case a.BDT != 1993 && a.BDT != 2014 && a.BDT != 2035:
		return bad("base date %d (want 1993, 2014 or 2035)", a.BDT)
	case a.DKGA != 2 && a.DKGA != 4:
		return bad("DKGA%02d (want 02 or 04)", a.DKGA)
	case a.EA != 7 && a.EA != 9 && a.EA != 11:
		return bad("EA%02d (want 07, 09 or 11)", a.EA)
	case a.DKGA == 2 && a.EA == 11:
		return bad("DKGA02 makes 8-byte decoder keys, EA11 needs 16")
	case a.KEN < 0 || a.KEN > 255:
		return bad("KEN %d (want 0 to 255)", a.KEN)
	}
	for _, t := range []*time.Time{&a.ACT, &a.EXP, &a.IUT} {
		*t = t.UTC().Truncate(time.Second)
		if t.Year() < 1970 || t.Year() > 9999 {
			return bad("ACT, EXP and IUT must be set, in the years 1970 to 9999")
		}
	}
	if !a.ACT.Before(a.EXP) || a.EXP.After(a.IUT) {
		return bad("want ACT < EXP ≤ IUT, have ACT %s, EXP %s, IUT %s",
			a.ACT.Format(records.TimeLayout), a.EXP.Format(records.TimeLayout), a.IUT.Format(records.TimeLayout))
	}
	return nil
}

// Key states.
const (
	// StateActive: the key may be issued until its EXP.
	StateActive = "active"
	// StateRetired: the key's KRN was taken by a newer key after its EXP;
	// it is never issued again.
	StateRetired = "retired"
)

// Key origins.
const (
	OriginGenerated = "generated"
	OriginImported  = "imported"
)

// VendingKey is what the KMC shows of a vending key: its attributes and
// KCV, never its value.
type VendingKey struct {
	// ID names the key in the KMC ("VK-" and 16 hex digits).
	ID string
	VKAttributes
	// KCV is the key check value (keyagree.KCV), 6 hex digits.
	KCV string
	// Origin is OriginGenerated or OriginImported.
	Origin string
	// State is StateActive or StateRetired.
	State     string
	CreatedAt time.Time
	CreatedBy string
	RetiredAt time.Time // zero unless retired
	RetiredBy string
}

// Issuable reports whether the KMC may put the key in a Key Load File at t:
// active and before its EXP.
func (v VendingKey) Issuable(t time.Time) bool { return v.State == StateActive && t.Before(v.EXP) }

// GenerateVendingKey makes a vending key from crypto/rand (for DKGA02 with
// odd parity in every byte, as DES keys are kept), seals it in the custody
// and records it with its attributes. Only the KCV is returned. The key's
// KRN, when a.KRN is 0, is the next in the cycle. A KRN held by an active
// key of the same supply group and type is refused (ErrExists) until that
// key's EXP, and then that key is retired.
func (k *KMC) GenerateVendingKey(ctx context.Context, actor string, a VKAttributes) (VendingKey, error) {
	if err := a.check(true); err != nil {
		return VendingKey{}, err
	}
	key := make([]byte, a.KeySize())
	defer clear(key)
	rand.Read(key)
	if a.DKGA == 2 {
		setOddParity(key)
	}
	return k.storeKey(ctx, actor, a, key, OriginGenerated, nil)
}

// setOddParity sets the low bit of every byte so that it has an odd number
// of one bits, the parity convention of DES keys.
func setOddParity(key []byte) {
	for i, b := range key {
		b &^= 1
		var n int
		for x := b; x != 0; x &= x - 1 {
			n++
		}
		if n%2 == 0 {
			b |= 1
		}
		key[i] = b
	}
}

// KeyComponent is one officer's share of a vending key being imported:
// the component's value and its key check value, which the officer reads
// from the component's paper or card and the KMC checks.
type KeyComponent struct {
	Officer string
	Value   []byte
	KCV     []byte
}

// Format never prints the component's value.
func (c KeyComponent) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "kmc.KeyComponent{Officer: %q, KCV: %X, Value: <redacted>}", c.Officer, c.KCV)
}

// ImportVendingKey imports an existing vending key under dual control: the
// key is the XOR of at least two components entered by different officers
// (names compared without case), each registered with the KMC
// (CheckOfficers: ErrUnknownOfficer) and authenticated by the caller, each
// component checked against its own KCV. If kcv
// is not nil, the combined key must match it too. The key is then sealed
// and recorded like a generated one. The components are not modified; the
// caller clears them.
func (k *KMC) ImportVendingKey(ctx context.Context, actor string, a VKAttributes, comps []KeyComponent, kcv []byte) (VendingKey, error) {
	if err := a.check(true); err != nil {
		return VendingKey{}, err
	}
	names := make([]string, len(comps))
	for i, c := range comps {
		if strings.TrimSpace(c.Officer) == "" || checkText("officer", c.Officer, 64) != nil {
			return VendingKey{}, fmt.Errorf("%w: component %d names no officer", ErrDualControl, i+1)
		}
		names[i] = c.Officer
	}
	if err := k.CheckOfficers(names); err != nil {
		return VendingKey{}, err
	}
	key := make([]byte, a.KeySize())
	defer clear(key)
	var officers, kcvs []string
	for _, c := range comps {
		if err := checkComponent(a, c); err != nil {
			return VendingKey{}, err
		}
		subtle.XORBytes(key, key, c.Value)
		officers = append(officers, c.Officer)
		kcvs = append(kcvs, strings.ToUpper(hex.EncodeToString(c.KCV)))
	}
	if allZero(key) {
		return VendingKey{}, fmt.Errorf("%w: the components cancel out (the key is zero)", ErrInvalid)
	}
	if kcv != nil {
		got, _ := keyagree.KCV(key)
		if subtle.ConstantTimeCompare(got, kcv) != 1 {
			return VendingKey{}, fmt.Errorf("%w: the combined key", ErrKCV)
		}
	}
	return k.storeKey(ctx, actor, a, key, OriginImported, map[string]any{"officers": officers, "component_kcvs": kcvs})
}

func allZero(b []byte) bool {
	var or byte
	for _, c := range b {
		or |= c
	}
	return or == 0
}

// sealAAD binds a sealed vending key to its identity: its id, supply group,
// KRN, type, DKGA and KCV. A sealed blob moved to another row, or a row
// whose identity was edited, does not open.
func sealAAD(id string, a VKAttributes, kcv string) []byte {
	return []byte("stskms-kmc/vending-key/1|" + id + "|" + sgcText(a.SGC) + "|" + strconv.Itoa(a.KRN) + "|" +
		strconv.Itoa(int(a.Type)) + "|" + strconv.Itoa(a.DKGA) + "|" + kcv + "|")
}

// storeKey seals and records a new vending key, choosing its KRN and
// retiring an expired holder of it, and audits it, in one transaction.
func (k *KMC) storeKey(ctx context.Context, actor string, a VKAttributes, key []byte, origin string, extra map[string]any) (VendingKey, error) {
	kcvBytes, err := keyagree.KCV(key)
	if err != nil {
		return VendingKey{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var idBytes [8]byte
	rand.Read(idBytes[:])
	v := VendingKey{ID: "VK-" + strings.ToUpper(hex.EncodeToString(idBytes[:])), VKAttributes: a,
		KCV: strings.ToUpper(hex.EncodeToString(kcvBytes)), Origin: origin, State: StateActive,
		CreatedAt: k.now().UTC().Truncate(time.Second), CreatedBy: actor}
	err = k.tx(ctx, func(tx *store.Tx) error {
		v.KRN = a.KRN
		if err := requireSGC(ctx, tx, a.SGC); err != nil {
			return err
		}
		if v.KRN == 0 {
			var last int64
			err := tx.QueryRow(ctx, `SELECT krn FROM vending_keys WHERE sgc = $1 AND kt = $2 ORDER BY seq DESC LIMIT 1`,
				a.SGC, int(a.Type)).Scan(&last)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			v.KRN = int(last)%MaxKRN + 1
		}
		if err := k.freeKRN(ctx, tx, actor, v.VKAttributes); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM vending_keys`).Scan(&seq); err != nil {
			return err
		}
		sealed, err := k.custody.Seal(ctx, key, sealAAD(v.ID, v.VKAttributes, v.KCV))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO vending_keys (id, seq, sgc, krn, kt, bdt, dkga, ea, ken, act, exp, iut, clm,
			kcv, sealed, origin, state, created_at, created_by, retired_at, retired_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, 0, '')`,
			v.ID, seq, v.SGC, v.KRN, int(v.Type), v.BDT, v.DKGA, v.EA, v.KEN, v.ACT.Unix(), v.EXP.Unix(), v.IUT.Unix(),
			int64(v.CLM), v.KCV, sealed, origin, StateActive, v.CreatedAt.Unix(), actor); err != nil {
			return err
		}
		details := vkDetails(v)
		for name, val := range extra {
			details[name] = val
		}
		action := "vk.generate"
		if origin == OriginImported {
			action = "vk.import"
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: action, Subject: v.ID, Details: details})
		return err
	})
	if err != nil {
		return VendingKey{}, failed("store vending key", err)
	}
	return v, nil
}

// requireSGC fails with ErrNotFound unless the supply group exists.
func requireSGC(ctx context.Context, tx *store.Tx, sgc int) error {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM supply_groups WHERE sgc = $1`, sgc).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: supply group %06d (add it first)", ErrNotFound, sgc)
	}
	return nil
}

// freeKRN makes the KRN of a free for a new key: an active key holding it
// is retired if past its EXP, else the KRN is refused.
func (k *KMC) freeKRN(ctx context.Context, tx *store.Tx, actor string, a VKAttributes) error {
	var id string
	var exp int64
	err := tx.QueryRow(ctx, `SELECT id, exp FROM vending_keys WHERE sgc = $1 AND kt = $2 AND krn = $3 AND state = $4`,
		a.SGC, int(a.Type), a.KRN, StateActive).Scan(&id, &exp)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := k.now().UTC()
	if now.Unix() < exp {
		return fmt.Errorf("%w: KRN %d of supply group %06d %s is held by %s until its EXP %s",
			ErrExists, a.KRN, a.SGC, a.Type, id, time.Unix(exp, 0).UTC().Format(records.TimeLayout))
	}
	if _, err := tx.Exec(ctx, `UPDATE vending_keys SET state = $1, retired_at = $2, retired_by = $3 WHERE id = $4`,
		StateRetired, now.Unix(), actor, id); err != nil {
		return err
	}
	_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "vk.retire", Subject: id,
		Details: map[string]any{"reason": "KRN reused after EXP", "sgc": sgcText(a.SGC), "krn": a.KRN, "type": a.Type.String()}})
	return err
}

// vkDetails is the audit record of a vending key: attributes and KCV,
// never the key.
func vkDetails(v VendingKey) map[string]any {
	return map[string]any{
		"sgc": sgcText(v.SGC), "krn": v.KRN, "type": v.Type.String(), "bdt": v.BDT, "dkga": fmt.Sprintf("%02d", v.DKGA),
		"ea": fmt.Sprintf("%02d", v.EA), "ken": v.KEN, "act": v.ACT.Format(records.TimeLayout),
		"exp": v.EXP.Format(records.TimeLayout), "iut": v.IUT.Format(records.TimeLayout),
		"clm": fmt.Sprintf("%08X", v.CLM), "kcv": v.KCV, "origin": v.Origin,
	}
}

// vkColumns is the select list scanVK reads.
const vkColumns = `id, sgc, krn, kt, bdt, dkga, ea, ken, act, exp, iut, clm, kcv, origin, state, created_at, created_by, retired_at, retired_by`

func scanVK(row store.Scanner, sealed *[]byte) (VendingKey, error) {
	var v VendingKey
	var sgc, krn, kt, bdt, dkga, ea, ken, act, exp, iut, clm, created, retired int64
	dest := []any{&v.ID, &sgc, &krn, &kt, &bdt, &dkga, &ea, &ken, &act, &exp, &iut, &clm, &v.KCV, &v.Origin, &v.State,
		&created, &v.CreatedBy, &retired, &v.RetiredBy}
	if sealed != nil {
		dest = append(dest, sealed)
	}
	if err := row.Scan(dest...); err != nil {
		return VendingKey{}, err
	}
	v.SGC, v.KRN, v.Type, v.BDT, v.DKGA, v.EA, v.KEN = int(sgc), int(krn), KeyType(kt), int(bdt), int(dkga), int(ea), int(ken)
	v.ACT, v.EXP, v.IUT = time.Unix(act, 0).UTC(), time.Unix(exp, 0).UTC(), time.Unix(iut, 0).UTC()
	v.CLM = uint32(clm)
	v.CreatedAt = time.Unix(created, 0).UTC()
	if retired != 0 {
		v.RetiredAt = time.Unix(retired, 0).UTC()
	}
	return v, nil
}

// VendingKeys returns the vending keys of the given supply groups (all if
// none), retired ones included, by SGC, type and creation.
func (k *KMC) VendingKeys(ctx context.Context, sgcs ...int) ([]VendingKey, error) {
	want := map[int]bool{}
	for _, s := range sgcs {
		want[s] = true
	}
	var out []VendingKey
	err := eachRow(ctx, k.db, "read vending keys", `SELECT `+vkColumns+` FROM vending_keys ORDER BY sgc, kt, seq`, nil,
		func(row store.Scanner) error {
			v, err := scanVK(row, nil)
			if err != nil {
				return failed("read vending keys", err)
			}
			if len(want) == 0 || want[v.SGC] {
				out = append(out, v)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// openVK unseals a vending key and checks it against its KCV. The caller
// clears the key.
func (k *KMC) openVK(ctx context.Context, v VendingKey, sealed []byte) ([]byte, error) {
	key, err := k.custody.Open(ctx, sealed, sealAAD(v.ID, v.VKAttributes, v.KCV))
	if err != nil {
		return nil, fmt.Errorf("kmc: vending key %s does not unseal: %w", v.ID, err)
	}
	kcv, err := keyagree.KCV(key)
	if err != nil || !strings.EqualFold(hex.EncodeToString(kcv), v.KCV) || len(key) != v.KeySize() {
		clear(key)
		return nil, fmt.Errorf("kmc: vending key %s does not match its KCV or DKGA", v.ID)
	}
	return key, nil
}
