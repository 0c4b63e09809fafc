package kmc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
)

// UpdateResult is an applied STS Association registry update.
type UpdateResult struct {
	// Seq is the update's sequence number; STSAKey the key that signed it;
	// IssueTime when the STS Association made it.
	Seq       uint64
	STSAKey   records.Hash64
	IssueTime time.Time
	// AppliedAt is when the KMC applied it.
	AppliedAt time.Time
	// Modules is the number of SMREG.SM.1 records: Added were not
	// registered, Changed differed from the registry (certification,
	// revocation, model or firmware), Unchanged did not.
	Modules, Added, Changed, Unchanged int
}

// Summary is the one-line description of the update for a reply or a log,
// e.g. "registry update 42 (STSA key 7FBF627760988F3D) applied: 10
// modules, 3 added, 5 changed, 2 unchanged".
func (r *UpdateResult) Summary() string {
	return fmt.Sprintf("registry update %d (STSA key %s) applied: %d modules, %d added, %d changed, %d unchanged",
		r.Seq, r.STSAKey, r.Modules, r.Added, r.Changed, r.Unchanged)
}

// UpdateOptions are what a gateway adds to a registry update.
type UpdateOptions struct {
	// Ref names this delivery of the update, such as the gateway's id of
	// the request mail. An update already answered under the same Ref gets
	// the same answer again — the same result, or the same refusal —
	// without being applied twice. Empty: no such memory.
	Ref string
}

// ApplyRegistryUpdate applies a signed STS Association registry update
// file (a file-of-records, docs/formats.md §9) to the security-module
// registry, after these checks, in this order, each refusing with its own
// *Error code and changing nothing:
//
//  1. an STS Association key is configured at all (ENotAvailable);
//  2. the file is a file of SMREG records, each well-formed with its CRCs,
//     in order and counted right, each SMID's key hash naming its public
//     key (ESmUpdateRecord), no module listed twice (ESmUpdateConflict);
//  3. it names a configured STSA key (ESmUpdateUnknownKey) whose
//     signature verifies (ESmUpdateSignature);
//  4. its sequence number is greater than the last applied
//     (ESmUpdateStale);
//  5. no record contradicts the registry (ESmUpdateConflict): the same
//     variant, not a module registered as virtual, not a software model.
//
// Then, in one transaction with one audit record (sm.update) and the new
// last sequence number, every module is added (as hardware, with no KLF
// address yet) or updated: certified as listed, revoked when listed
// revoked (a revocation is for good: a module listed as not revoked stays
// revoked if it is), model and firmware as listed. Anything else that
// fails is EInternal, after which nothing is applied.
func (k *KMC) ApplyRegistryUpdate(ctx context.Context, actor string, file []byte, o UpdateOptions) (*UpdateResult, error) {
	if _, err := k.Identity(); err != nil {
		return nil, internal(err)
	}
	if o.Ref != "" {
		if res, ok, err := k.updateAnswer(ctx, o.Ref); ok {
			return res, err
		}
	}
	res, err := k.applyUpdate(ctx, actor, file, o.Ref)
	var e *Error
	if err != nil && errors.As(err, &e) && e.Code != EInternal {
		k.refuseUpdate(ctx, actor, o.Ref, e)
	}
	return res, err
}

// applyUpdate is ApplyRegistryUpdate after the check for an earlier
// answer.
func (k *KMC) applyUpdate(ctx context.Context, actor string, file []byte, ref string) (*UpdateResult, error) {
	keys, err := k.STSAKeys(ctx)
	if err != nil {
		return nil, internal(err)
	}
	if len(keys) == 0 {
		return nil, refuse(ENotAvailable, nil, "no STS Association key configured")
	}
	u, err := ParseRegistryUpdate(file)
	if err != nil {
		return nil, err
	}
	keyID := u.STSAKey.String()
	var key *STSAKey
	for i := range keys {
		if keys[i].ID == u.STSAKey {
			key = &keys[i]
		}
	}
	if key == nil {
		return nil, refuse(ESmUpdateUnknownKey, []string{keyID}, "update %d names STSA key %s", u.Seq, keyID)
	}
	if err := u.Verify(key.PublicKey); err != nil {
		return nil, refuse(ESmUpdateSignature, []string{keyID}, "update %d: %w", u.Seq, err)
	}
	var res *UpdateResult
	err = k.tx(ctx, func(tx *store.Tx) error {
		var err error
		res, err = k.applyInTx(ctx, tx, actor, u, ref)
		return err
	})
	if err != nil {
		if (errors.Is(err, errAnswered) || errors.Is(err, store.ErrConflict)) && ref != "" {
			// Another delivery of the same Ref was answered meanwhile.
			if res, ok, err := k.updateAnswer(ctx, ref); ok {
				return res, err
			}
		}
		return nil, internal(err)
	}
	return res, nil
}

// errAnswered: a concurrent delivery of the same Ref was answered first;
// its answer is the answer.
var errAnswered = errors.New("kmc: registry update answered meanwhile")

// ParseRegistryUpdate reads a registry update file (a file-of-records of
// SMREG records, package armor) without verifying its signature. Its
// errors are *Error with code ESmUpdateRecord (params: the record's
// position, 0 for the file) or ESmUpdateConflict (a module listed twice;
// params: the position and the SMID).
func ParseRegistryUpdate(file []byte) (*records.SMRegUpdate, error) {
	blocks, err := armor.ParseFile(file)
	if err != nil {
		return nil, refuse(ESmUpdateRecord, []string{"0"}, "%w", err)
	}
	bodies := make([]string, len(blocks))
	for i, b := range blocks {
		bodies[i] = b.Body
	}
	u, err := records.ParseSMRegUpdate(bodies)
	if err != nil {
		var ue *records.UpdateError
		index := 0
		if errors.As(err, &ue) {
			index = ue.Index
		}
		if errors.Is(err, records.ErrDuplicate) {
			smid := ""
			if m, _ := records.ParseSMRegModule(bodies[index-1]); m != nil {
				smid = m.SMID.String()
			}
			return nil, refuse(ESmUpdateConflict, []string{strconv.Itoa(index), smid}, "%w", err)
		}
		return nil, refuse(ESmUpdateRecord, []string{strconv.Itoa(index)}, "%w", err)
	}
	return u, nil
}

// applyInTx checks the sequence and every record against the registry and
// applies the update, all in tx.
func (k *KMC) applyInTx(ctx context.Context, tx *store.Tx, actor string, u *records.SMRegUpdate, ref string) (*UpdateResult, error) {
	if ref != "" {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sm_update_answers WHERE ref = $1`, ref).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, errAnswered
		}
	}
	var last int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(update_seq), 0) FROM sm_updates`).Scan(&last); err != nil {
		return nil, err
	}
	seq := strconv.FormatUint(u.Seq, 10)
	if u.Seq <= uint64(last) {
		return nil, refuse(ESmUpdateStale, []string{seq, strconv.FormatInt(last, 10)}, "update %d, last applied %d", u.Seq, last)
	}
	now := k.now().UTC().Truncate(time.Second)
	res := &UpdateResult{Seq: u.Seq, STSAKey: u.STSAKey, IssueTime: u.IssueTime, AppliedAt: now, Modules: len(u.Modules)}
	reason := "STS Association registry update " + seq
	for i := range u.Modules {
		changed, added, err := k.applyModule(ctx, tx, actor, &u.Modules[i], i+2, now, reason)
		if err != nil {
			return nil, err
		}
		switch {
		case added:
			res.Added++
		case changed:
			res.Changed++
		default:
			res.Unchanged++
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO sm_updates (update_seq, key_id, t_issue, applied_at, applied_by, n_sm, n_added,
		n_changed, n_unchanged) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, int64(u.Seq), u.STSAKey.String(),
		u.IssueTime.Unix(), now.Unix(), actor, res.Modules, res.Added, res.Changed, res.Unchanged); err != nil {
		return nil, err
	}
	if ref != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO sm_update_answers (ref, answered_at, update_seq, code, params)
			VALUES ($1, $2, $3, '', '[]')`, ref, now.Unix(), int64(u.Seq)); err != nil {
			return nil, err
		}
	}
	_, err := k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "sm.update", Subject: "update " + seq,
		Details: map[string]any{"update_seq": u.Seq, "stsa_key": u.STSAKey.String(),
			"t_issue": u.IssueTime.Format(records.TimeLayout), "modules": res.Modules, "added": res.Added,
			"changed": res.Changed, "unchanged": res.Unchanged, "ref": ref}})
	return res, err
}

// applyModule adds or updates the module of one SMREG.SM.1 (at 1-based
// position index in the file), or refuses it with ESmUpdateConflict.
func (k *KMC) applyModule(ctx context.Context, tx *store.Tx, actor string, m *records.SMRegModule, index int,
	now time.Time, reason string) (changed, added bool, err error) {
	smid := m.SMID.String()
	conflict := func(format string, args ...any) error {
		return refuse(ESmUpdateConflict, []string{strconv.Itoa(index), smid}, "record %d, %s: "+format,
			append([]any{index, smid}, args...)...)
	}
	if knownVirtual(m.Model) {
		return false, false, conflict("model %s is stskms's software module", m.Model)
	}
	revokedAt := int64(0)
	if m.Revoked {
		revokedAt = now.Unix()
	}
	sm, err := scanSM(tx.QueryRow(ctx, `SELECT `+smColumns+` FROM sms WHERE smid = $1`, smid))
	if errors.Is(err, store.ErrNotFound) {
		by, why := "", ""
		if m.Revoked {
			by, why = actor, reason
		}
		_, err = tx.Exec(ctx, `INSERT INTO sms (smid, vendor, sm_id, public_key, model, firmware, variant, virtual,
			certified, emails, registered_at, registered_by, revoked_at, revoked_by, revoke_reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, '[]', $9, $10, $11, $12, $13)`,
			smid, m.SMID.Vendor, m.SMID.ID, m.PublicKey.Bytes(), m.Model, m.Firmware, m.Variant, boolInt(m.Certified),
			now.Unix(), actor, revokedAt, by, why)
		return false, true, err
	}
	if err != nil {
		return false, false, err
	}
	switch {
	case !bytes.Equal(sm.PublicKey.Bytes(), m.PublicKey.Bytes()):
		return false, false, conflict("registered with another public key")
	case string(sm.Variant) != m.Variant:
		return false, false, conflict("registered as %s, listed as %s", sm.Variant, m.Variant)
	case sm.Virtual:
		return false, false, conflict("registered as a virtual (software) module")
	}
	revoke := m.Revoked && !sm.Revoked
	if !revoke && sm.Certified == m.Certified && sm.Model == m.Model && sm.Firmware == m.Firmware {
		return false, false, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE sms SET certified = $1, model = $2, firmware = $3 WHERE smid = $4`,
		boolInt(m.Certified), m.Model, m.Firmware, smid); err != nil {
		return false, false, err
	}
	if revoke {
		_, err = tx.Exec(ctx, `UPDATE sms SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 WHERE smid = $4`,
			revokedAt, actor, reason, smid)
	}
	return true, false, err
}

// updateAnswer returns the answer given under ref before, if any (ok).
func (k *KMC) updateAnswer(ctx context.Context, ref string) (res *UpdateResult, ok bool, err error) {
	var seq int64
	var code, params string
	err = k.db.QueryRow(ctx, `SELECT update_seq, code, params FROM sm_update_answers WHERE ref = $1`, ref).Scan(&seq, &code, &params)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, internal(err)
	}
	if code != "" {
		e := &Error{Code: Code(code), Err: fmt.Errorf("the answer given to %s before", ref)}
		if err := json.Unmarshal([]byte(params), &e.Params); err != nil {
			return nil, true, internal(fmt.Errorf("kmc: stored answer of %s: %w", ref, err))
		}
		return nil, true, e
	}
	res = &UpdateResult{Seq: uint64(seq)}
	var keyID string
	var issued, applied int64
	err = k.db.QueryRow(ctx, `SELECT key_id, t_issue, applied_at, n_sm, n_added, n_changed, n_unchanged FROM sm_updates
		WHERE update_seq = $1`, seq).Scan(&keyID, &issued, &applied, &res.Modules, &res.Added, &res.Changed, &res.Unchanged)
	if err != nil {
		return nil, true, internal(fmt.Errorf("kmc: update %d answered to %s: %w", seq, ref, err))
	}
	id, err := hex.DecodeString(keyID)
	if err != nil || len(id) != len(res.STSAKey) {
		return nil, true, internal(fmt.Errorf("kmc: update %d: stored key id: %w", seq, err))
	}
	res.STSAKey, res.IssueTime, res.AppliedAt = records.Hash64(id), time.Unix(issued, 0).UTC(), time.Unix(applied, 0).UTC()
	return res, true, nil
}

// refuseUpdate audits a refused update and, under ref, remembers the
// refusal so that the same delivery gets the same answer. Each in its own
// transaction (the refused one rolled back); a failure to record does not
// change the answer.
func (k *KMC) refuseUpdate(ctx context.Context, actor, ref string, e *Error) {
	ctx = context.WithoutCancel(ctx)
	params, _ := json.Marshal(append([]string{}, e.Params...))
	_ = k.tx(ctx, func(tx *store.Tx) error {
		if ref != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO sm_update_answers (ref, answered_at, update_seq, code, params)
				VALUES ($1, $2, 0, $3, $4)`, ref, k.now().Unix(), string(e.Code), string(params)); err != nil {
				return err
			}
		}
		_, err := k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "sm.update.refuse", Subject: string(e.Code),
			Details: map[string]any{"code": string(e.Code), "params": e.Params, "ref": ref}})
		return err
	})
}
