package sm

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
)

// SlotState is the life-cycle state of a KEK slot:
//
//	INSTALLED --request--> LOADING --load--> ACTIVE
//	    ^                   |  ^                |
//	    |                   +--+ request        | request
//	    |                                       v
//	  install                                LOADING …
//
// A request is allowed in every state and replaces a pending one (whose
// Key Load File is then refused, code 26); a Key Load File loads only in
// LOADING, and only the one answering the pending request. Delete empties
// the slot in any state; registers loaded through it stay.
type SlotState string

// The slot states.
const (
	SlotInstalled SlotState = "INSTALLED"
	SlotLoading   SlotState = "LOADING"
	SlotActive    SlotState = "ACTIVE"
)

// Slot is a KEK slot: the KMC key it holds and its state.
type Slot struct {
	Number      int            `json:"slot"`
	State       SlotState      `json:"state"`
	KMCID       records.PKID   `json:"-"`
	Fingerprint records.Hash64 `json:"fingerprint"`
	Expiry      time.Time      `json:"expiry"`
	// RequestTime is the t_req of the pending request (LOADING only).
	RequestTime time.Time `json:"t_req,omitzero"`
	Installed   time.Time `json:"installed"`
	Changed     time.Time `json:"changed"`
	Loads       int       `json:"loads"`
	record      string
}

// MarshalJSON prints the KMCID as its text.
func (s Slot) MarshalJSON() ([]byte, error) {
	type plain Slot
	return marshalWith(plain(s), "kmcid", s.KMCID.String())
}

// InstallRequest asks to install a KMC key (a PK.ECDH.1 record) into a KEK
// slot.
type InstallRequest struct {
	// Record is the one-line PK.ECDH.1 body.
	Record string
	// Fingerprint is the KMC public key fingerprint (16 hex digits) as
	// published out of band, typed by the operator: the module compares it
	// with the record's (in constant time) and refuses a mismatch.
	Fingerprint string
	// TestKMC is the officer's declaration that the KMC is a test KMC.
	// A virtual module refuses any other (STS 600-10-1 §4.5).
	TestKMC bool
	// Slot is the slot number, 1..MaxSlots, or 0 for the first free one.
	Slot int
}

// InstallSlot installs a KMC key into a KEK slot (officer; SM?KC): the
// record must parse with its CRCs right (49), name a KMC that is not on the
// live-KMC list (EE), be declared a test KMC by the officer (EE), be
// unexpired (41), carry a KMCID whose key hash names its key (49), and
// match the fingerprint the operator typed (EE). The slot must be free and
// no other slot may hold the same KMCID (26); without a free slot, 27.
func (m *Module) InstallSlot(ctx context.Context, a Actor, req InstallRequest) (Slot, error) {
	if err := m.ready(a, "slot.install"); err != nil {
		return Slot{}, err
	}
	body := strings.TrimSpace(req.Record)
	p, err := records.ParsePKECDH(body)
	if err != nil {
		return Slot{}, refuseCause(ErrFormat, err, "PK.ECDH.1")
	}
	if m.isLive(p.KMCID) {
		return Slot{}, refuse(ErrLiveKMC, "%s", p.KMCID)
	}
	if !req.TestKMC {
		return Slot{}, refuse(ErrNotTestKMC, "%s: this is a virtual module", p.KMCID)
	}
	now := m.now()
	if !now.Before(p.Expiry) {
		return Slot{}, refuse(ErrKMCKeyExpired, "%s expired %s", p.KMCID, p.Expiry.Format(records.TimeLayout))
	}
	if err := p.CheckKeyHash(); err != nil {
		return Slot{}, refuseCause(ErrFormat, err, "KMCID")
	}
	fp := records.Fingerprint(body)
	typed, err := hex.DecodeString(strings.TrimSpace(req.Fingerprint))
	if err != nil || subtle.ConstantTimeCompare(typed, fp[:]) != 1 {
		return Slot{}, refuse(ErrFingerprint, "check the fingerprint published by the KMC")
	}
	if req.Slot < 0 || req.Slot > MaxSlots {
		return Slot{}, refuse(ErrNoSlot, "slot %d (1 to %d)", req.Slot, MaxSlots)
	}
	s := Slot{Number: req.Slot, State: SlotInstalled, KMCID: p.KMCID, Fingerprint: fp, Expiry: p.Expiry,
		Installed: now.UTC(), Changed: now.UTC(), record: body}
	err = m.tx(ctx, func(tx *store.Tx) error {
		used := map[int]bool{}
		err := store.EachRow(ctx, tx, `SELECT slot, kmcid FROM sm_slot`, nil, func(row store.Scanner) error {
			var n int64
			var kmcid string
			if err := row.Scan(&n, &kmcid); err != nil {
				return err
			}
			used[int(n)] = true
			if kmcid == p.KMCID.String() {
				return refuse(ErrSlotState, "slot %d holds this KMC key already", n)
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.Number = req.Slot
		if s.Number == 0 {
			for n := 1; n <= MaxSlots && s.Number == 0; n++ {
				if !used[n] {
					s.Number = n
				}
			}
			if s.Number == 0 {
				return refuse(ErrSlotsFull, "all %d slots hold a KMC key", MaxSlots)
			}
		} else if used[s.Number] {
			return refuse(ErrSlotState, "slot %d holds a KMC key; delete it first", s.Number)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sm_slot (slot, state, kmcid, record, fingerprint, expiry_ns, t_req,
			last_t_req, installed_ns, changed_ns, loads) VALUES ($1, $2, $3, $4, $5, $6, '', '', $7, $7, 0)`,
			int64(s.Number), string(s.State), p.KMCID.String(), body, fp.String(), p.Expiry.UnixNano(), now.UnixNano()); err != nil {
			return err
		}
		_, err = m.log.Append(ctx, tx, audit.Entry{Actor: a.String(), Action: "slot.install", Subject: p.KMCID.String(),
			Details: map[string]any{"slot": s.Number, "fingerprint": fp.String(), "expiry": p.Expiry.Format(records.TimeLayout),
				"test_kmc_declared": true}})
		return err
	})
	if err != nil {
		return Slot{}, err
	}
	return s, nil
}

// Request makes a VKLOAD.REQ.1 from a slot (officer; SM?KR) and puts the
// slot in LOADING with the request time remembered. The request time is
// the module's clock to the second, and always later than the slot's
// previous request, so that no two requests share a t_req. A KMC key past
// its expiry is refused (41).
func (m *Module) Request(ctx context.Context, a Actor, slot int) (*records.VKLoadReq, error) {
	if err := m.ready(a, "slot.request"); err != nil {
		return nil, err
	}
	now := m.now().UTC().Truncate(time.Second)
	var req *records.VKLoadReq
	err := m.tx(ctx, func(tx *store.Tx) error {
		s, err := m.slot(ctx, tx, slot)
		if err != nil {
			return err
		}
		p, err := records.ParsePKECDH(s.record)
		if err != nil {
			return refuseCause(ErrIntegrity, err, "slot %d record", slot)
		}
		if m.isLive(p.KMCID) {
			return refuse(ErrLiveKMC, "%s", p.KMCID)
		}
		if !now.Before(p.Expiry) {
			return refuse(ErrKMCKeyExpired, "%s expired %s", p.KMCID, p.Expiry.Format(records.TimeLayout))
		}
		at := now
		if last, err := m.lastRequestTime(ctx, tx, slot); err != nil {
			return err
		} else if !at.After(last) {
			at = last.Add(time.Second)
		}
		if req, err = m.newRequest(ctx, p, at); err != nil {
			return err
		}
		tReq := req.Time.Format(records.TimeLayout)
		if _, err := tx.Exec(ctx, `UPDATE sm_slot SET state = $1, t_req = $2, last_t_req = $2, changed_ns = $3 WHERE slot = $4`,
			string(SlotLoading), tReq, now.UnixNano(), int64(slot)); err != nil {
			return err
		}
		_, err = m.log.Append(ctx, tx, audit.Entry{Actor: a.String(), Action: "slot.request", Subject: p.KMCID.String(),
			Details: map[string]any{"slot": slot, "t_req": tReq, "from_state": string(s.State)}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// lastRequestTime is the t_req of the slot's latest request (zero if
// none).
func (m *Module) lastRequestTime(ctx context.Context, tx *store.Tx, slot int) (time.Time, error) {
	var last string
	if err := tx.QueryRow(ctx, `SELECT last_t_req FROM sm_slot WHERE slot = $1`, int64(slot)).Scan(&last); err != nil {
		return time.Time{}, err
	}
	if last == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(records.TimeLayout, last)
	if err != nil {
		return time.Time{}, refuseCause(ErrIntegrity, err, "slot %d last t_req", slot)
	}
	return t, nil
}

// LoadKLF loads the Key Load File that answers a slot's pending request
// (officer; SM?KL), all or nothing: the slot must be LOADING and the file
// must answer its pending request (26); the file must parse (49), its MAC,
// every key wrap and KCV verify (77), and every key's attributes pass the
// module's rules (94: a vending module refuses initialization keys); the
// registers must have room (28). Then, in one transaction with one audit
// record per key and one for the file, every key is stored sealed in its
// register (a register of the same SGC, KRN and KT is replaced, its credit
// limit set to the file's) and the slot becomes ACTIVE. On any refusal
// nothing changes.
func (m *Module) LoadKLF(ctx context.Context, a Actor, slot int, bodies []string) ([]Register, error) {
	if err := m.ready(a, "slot.load"); err != nil {
		return nil, err
	}
	s, p, err := m.loadingSlot(ctx, slot)
	if err != nil {
		return nil, err
	}
	keys, err := m.openKLF(ctx, p, s.RequestTime, bodies)
	if err != nil {
		return nil, err
	}
	defer func() {
		for i := range keys {
			keys[i].Zero()
		}
	}()
	now := m.now().UTC()
	regs, err := m.sealRegisters(ctx, keys, slot, p.KMCID.String(), now)
	if err != nil {
		return nil, err
	}
	if err := m.tx(ctx, func(tx *store.Tx) error { return m.storeKLF(ctx, tx, a, s, regs, now) }); err != nil {
		return nil, err
	}
	for i := range regs {
		regs[i].sealed = nil
		regs[i].gen = 0
	}
	return regs, nil
}

// loadingSlot returns a slot that waits for its Key Load File (LOADING)
// and its KMC's PK.ECDH.1.
func (m *Module) loadingSlot(ctx context.Context, slot int) (Slot, *records.PKECDH, error) {
	s, err := m.slot(ctx, nil, slot)
	if err != nil {
		return Slot{}, nil, err
	}
	if s.State != SlotLoading {
		return Slot{}, nil, refuse(ErrSlotState, "slot %d is %s; make a request first", slot, s.State)
	}
	p, err := records.ParsePKECDH(s.record)
	if err != nil {
		return Slot{}, nil, refuseCause(ErrIntegrity, err, "slot %d record", slot)
	}
	return s, p, nil
}

// sealRegisters checks the attributes of the file's keys (no two for one
// register) and returns their registers, each key sealed by the custody.
func (m *Module) sealRegisters(ctx context.Context, keys []keyload.VendingKey, slot int, kmcid string, now time.Time) ([]Register, error) {
	regs := make([]Register, len(keys))
	seen := map[RegisterKey]int{}
	for i := range keys {
		if err := m.checkVendingKey(i+1, &keys[i]); err != nil {
			return nil, err
		}
		kcv, err := keyagreeKCV(keys[i].Key)
		if err != nil {
			return nil, err
		}
		regs[i] = registerFrom(keys[i], kcv, slot, kmcid, now)
		if j, dup := seen[regs[i].RegisterKey]; dup {
			return nil, refuse(ErrAttribute, "VK.1 numbers %d and %d are both %v", j, i+1, regs[i].RegisterKey)
		}
		seen[regs[i].RegisterKey] = i + 1
		if regs[i].sealed, err = m.custody.Seal(ctx, keys[i].Key, regs[i].aad(m.ident.SMID.String())); err != nil {
			return nil, err
		}
	}
	return regs, nil
}

// storeKLF stores the registers of a file loaded through slot s in tx, if
// the slot is still waiting for that file, makes the slot ACTIVE, and
// audits each key and the file.
func (m *Module) storeKLF(ctx context.Context, tx *store.Tx, a Actor, s Slot, regs []Register, now time.Time) error {
	cur, err := m.slot(ctx, tx, s.Number)
	if err != nil {
		return err
	}
	if cur.State != SlotLoading || !cur.RequestTime.Equal(s.RequestTime) || cur.KMCID.String() != s.KMCID.String() {
		return refuse(ErrSlotState, "slot %d changed while the file was checked", s.Number)
	}
	var count int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sm_register`).Scan(&count); err != nil {
		return err
	}
	tReq := s.RequestTime.Format(records.TimeLayout)
	for i := range regs {
		r := &regs[i]
		replaced, err := m.storeRegister(ctx, tx, r, &count)
		if err != nil {
			return err
		}
		if _, err := m.log.Append(ctx, tx, audit.Entry{Actor: a.String(), Action: "vk.load", Subject: r.RegisterKey.String(),
			Details: map[string]any{"slot": s.Number, "t_req": tReq, "replaced": replaced, "bdt": int(r.BDT),
				"dkga": r.DKGA.String(), "ea": r.EA.String(), "ken": int(r.KEN), "act": r.ACT.Format(records.TimeLayout),
				"iut": r.IUT.Format(records.TimeLayout), "clm": int64(r.CLMLoaded), "kcv": r.KCV}}); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE sm_slot SET state = $1, t_req = '', changed_ns = $2, loads = loads + 1 WHERE slot = $3`,
		string(SlotActive), now.UnixNano(), int64(s.Number)); err != nil {
		return err
	}
	_, err = m.log.Append(ctx, tx, audit.Entry{Actor: a.String(), Action: "klf.load", Subject: s.KMCID.String(),
		Details: map[string]any{"slot": s.Number, "t_req": tReq, "keys": len(regs)}})
	return err
}

// storeRegister replaces the register of r's SGC, KRN and KT, or adds it
// if the module, holding *count registers, has room (ErrRegistersFull),
// and reports whether it replaced one.
func (m *Module) storeRegister(ctx context.Context, tx *store.Tx, r *Register, count *int64) (replaced bool, err error) {
	res, err := tx.Exec(ctx, `UPDATE sm_register SET bdt = $4, dkga = $5, ea = $6, ken = $7, act_ns = $8, iut_ns = $9,
		clm_loaded = $10, clm = $10, kcv = $11, sealed = $12, slot = $13, kmcid = $14, loaded_ns = $15, gen = gen + 1
		WHERE sgc = $1 AND krn = $2 AND kt = $3`, r.sqlArgs()...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return n > 0, err
	}
	if *count++; *count > int64(m.maxRegs) {
		return false, refuse(ErrRegistersFull, "the module holds at most %d registers", m.maxRegs)
	}
	_, err = tx.Exec(ctx, `INSERT INTO sm_register (sgc, krn, kt, bdt, dkga, ea, ken, act_ns, iut_ns,
		clm_loaded, clm, kcv, sealed, slot, kmcid, loaded_ns, gen)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, 1)`, r.sqlArgs()...)
	return false, err
}

// sqlArgs are the register's values in the order of LoadKLF's statements.
func (r *Register) sqlArgs() []any {
	return []any{int64(r.SGC), int64(r.KRN), int64(r.KT), int64(r.BDT), int64(r.DKGA), int64(r.EA), int64(r.KEN),
		r.ACT.UnixNano(), r.IUT.UnixNano(), int64(r.CLMLoaded), r.KCV, r.sealed, int64(r.Slot), r.KMCID, r.Loaded.UnixNano()}
}

// DeleteSlot empties a KEK slot (officer; SM?KX). The registers loaded
// through it stay.
func (m *Module) DeleteSlot(ctx context.Context, a Actor, slot int) error {
	if err := m.ready(a, "slot.delete"); err != nil {
		return err
	}
	return m.tx(ctx, func(tx *store.Tx) error {
		s, err := m.slot(ctx, tx, slot)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sm_slot WHERE slot = $1`, int64(slot)); err != nil {
			return err
		}
		_, err = m.log.Append(ctx, tx, audit.Entry{Actor: a.String(), Action: "slot.delete", Subject: s.KMCID.String(),
			Details: map[string]any{"slot": slot, "state": string(s.State)}})
		return err
	})
}

// Slots lists the KEK slots that hold a KMC key (officer, auditor).
func (m *Module) Slots(ctx context.Context, a Actor) ([]Slot, error) {
	if err := m.ready(a, "slot.list"); err != nil {
		return nil, err
	}
	var out []Slot
	err := m.eachSlot(ctx, func(s Slot) error {
		out = append(out, s)
		return nil
	})
	return out, err
}

// eachSlot calls fn with each slot that holds a KMC key, in slot order.
func (m *Module) eachSlot(ctx context.Context, fn func(Slot) error) error {
	return eachRow(ctx, m.db, `SELECT `+slotColumns+` FROM sm_slot ORDER BY slot`, scanSlot, fn)
}

const slotColumns = `slot, state, kmcid, record, fingerprint, expiry_ns, t_req, installed_ns, changed_ns, loads`

func scanSlot(row store.Scanner) (Slot, error) {
	var s Slot
	var n, expiry, installed, changed, loads int64
	var state, kmcid, fp, tReq string
	if err := row.Scan(&n, &state, &kmcid, &s.record, &fp, &expiry, &tReq, &installed, &changed, &loads); err != nil {
		return s, err
	}
	s.Number, s.State, s.Loads = int(n), SlotState(state), int(loads)
	s.Expiry, s.Installed, s.Changed = time.Unix(0, expiry).UTC(), time.Unix(0, installed).UTC(), time.Unix(0, changed).UTC()
	var err error
	if s.KMCID, err = records.ParsePKID(kmcid); err != nil {
		return s, refuseCause(ErrIntegrity, err, "slot %d KMCID", n)
	}
	if b, err := hex.DecodeString(fp); err == nil && len(b) == len(s.Fingerprint) {
		copy(s.Fingerprint[:], b)
	}
	if tReq != "" {
		if s.RequestTime, err = time.Parse(records.TimeLayout, tReq); err != nil {
			return s, refuseCause(ErrIntegrity, err, "slot %d t_req", n)
		}
	}
	return s, nil
}

// slot reads one slot, in tx if not nil.
func (m *Module) slot(ctx context.Context, tx *store.Tx, n int) (Slot, error) {
	q := `SELECT ` + slotColumns + ` FROM sm_slot WHERE slot = $1`
	var row *store.Row
	if tx != nil {
		row = tx.QueryRow(ctx, q, int64(n))
	} else {
		row = m.db.QueryRow(ctx, q, int64(n))
	}
	s, err := scanSlot(row)
	if errors.Is(err, store.ErrNotFound) {
		return s, refuse(ErrNoSlot, "slot %d holds no KMC key", n)
	}
	return s, err
}

// keyagreeKCV is keyagree.KCV with the module's error.
func keyagreeKCV(vk []byte) ([]byte, error) {
	kcv, err := keyagree.KCV(vk)
	if err != nil {
		return nil, refuseCause(ErrAttribute, err, "key check value")
	}
	return kcv, nil
}
