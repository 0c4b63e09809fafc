package kmc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/sts"
)

// KUA is a key-use authorisation: security module SMID may receive the
// vending keys of supply group SGC of the given types, in Key Load Files
// issued from From until Until.
type KUA struct {
	// ID numbers the authorisation.
	ID int64
	// SMID is the module's full SMID text.
	SMID string
	SGC  int
	// Types are the key types the module may receive.
	Types KeyTypes
	// From and Until bound when the KMC issues under the authorisation:
	// From ≤ t < Until.
	From, Until time.Time

	GrantedAt time.Time
	GrantedBy string
	// RevokedAt is zero unless the authorisation was revoked.
	RevokedAt time.Time
	RevokedBy string
}

// Valid reports whether the authorisation allows issuing at t.
func (a KUA) Valid(t time.Time) bool {
	return a.RevokedAt.IsZero() && !t.Before(a.From) && t.Before(a.Until)
}

// Grant authorises a registered, unrevoked module for a supply group's
// keys of the given types, from a.From until a.Until (From defaults to
// now). A vending module cannot be authorised for initialization keys
// (ErrVariant). The returned KUA carries its ID.
func (k *KMC) Grant(ctx context.Context, actor string, smRef string, a KUA) (KUA, error) {
	if a.Types == 0 || a.Types&^TypesOf(KeyInit, VDDK, VUDK, VCDK) != 0 {
		return KUA{}, fmt.Errorf("%w: no key types", ErrInvalid)
	}
	if err := sts.CheckSGC(int64(a.SGC)); err != nil {
		return KUA{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := k.now().UTC().Truncate(time.Second)
	if a.From.IsZero() {
		a.From = now
	}
	a.From, a.Until = a.From.UTC().Truncate(time.Second), a.Until.UTC().Truncate(time.Second)
	if !a.From.Before(a.Until) || a.Until.Year() > 9999 {
		return KUA{}, fmt.Errorf("%w: want from < until, have %s and %s", ErrInvalid,
			a.From.Format(records.TimeLayout), a.Until.Format(records.TimeLayout))
	}
	a.GrantedAt, a.GrantedBy, a.RevokedAt, a.RevokedBy = now, actor, time.Time{}, ""
	err := k.tx(ctx, func(tx *store.Tx) error {
		sm, err := findSM(ctx, tx, smRef)
		if err != nil {
			return err
		}
		if sm.Revoked {
			return fmt.Errorf("%w: security module %s", ErrRevoked, sm.SMID)
		}
		if !sm.Variant.mayReceive(KeyInit) && a.Types.Has(KeyInit) {
			return fmt.Errorf("%w: %s is a vending module; initialization keys go to manufacturing modules only", ErrVariant, sm.SMID)
		}
		if err := requireSGC(ctx, tx, a.SGC); err != nil {
			return err
		}
		a.SMID = sm.SMID.String()
		if err := grantAddsSomething(ctx, tx, a); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO kuas (smid, sgc, kt_mask, valid_from, valid_until, granted_at, granted_by,
			revoked_at, revoked_by) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, '') RETURNING id`,
			a.SMID, a.SGC, int64(a.Types), a.From.Unix(), a.Until.Unix(), now.Unix(), actor).Scan(&a.ID); err != nil {
			return err
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "kua.grant", Subject: a.SMID,
			Details: map[string]any{"kua": a.ID, "sgc": sgcText(a.SGC), "types": a.Types.String(),
				"from": a.From.Format(records.TimeLayout), "until": a.Until.Format(records.TimeLayout)}})
		return err
	})
	if err != nil {
		return KUA{}, failed("grant", err)
	}
	return a, nil
}

// grantAddsSomething refuses (ErrExists) a grant that an unrevoked
// authorisation is already in force for at its start: the same module and
// supply group, at least the same key types. Repeating a grant (whose
// default window starts now) so names the authorisation there is instead
// of making a second; a renewal starts where the one in force ends.
func grantAddsSomething(ctx context.Context, tx *store.Tx, a KUA) error {
	var id, until int64
	err := tx.QueryRow(ctx, `SELECT id, valid_until FROM kuas WHERE smid = $1 AND sgc = $2 AND (kt_mask & $3) = $3
		AND revoked_at = 0 AND valid_from <= $4 AND valid_until > $4 ORDER BY id LIMIT 1`,
		a.SMID, a.SGC, int64(a.Types), a.From.Unix()).Scan(&id, &until)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	end := time.Unix(until, 0).UTC().Format(records.TimeLayout)
	return fmt.Errorf("%w: authorisation %d covers %s for supply group %s, %s, until %s (to extend it, grant from %s)",
		ErrExists, id, a.SMID, sgcText(a.SGC), a.Types, end, end)
}

// RevokeKUA revokes an authorisation: no Key Load File issued from then on
// carries keys under it. ErrRevoked if it is revoked already.
func (k *KMC) RevokeKUA(ctx context.Context, actor string, id int64) (KUA, error) {
	var a KUA
	err := k.tx(ctx, func(tx *store.Tx) error {
		var err error
		a, err = scanKUA(tx.QueryRow(ctx, `SELECT `+kuaColumns+` FROM kuas WHERE id = $1`, id))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: authorisation %d", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if !a.RevokedAt.IsZero() {
			return fmt.Errorf("%w: authorisation %d", ErrRevoked, id)
		}
		a.RevokedAt, a.RevokedBy = k.now().UTC().Truncate(time.Second), actor
		if _, err := tx.Exec(ctx, `UPDATE kuas SET revoked_at = $1, revoked_by = $2 WHERE id = $3`,
			a.RevokedAt.Unix(), actor, id); err != nil {
			return err
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "kua.revoke", Subject: a.SMID,
			Details: map[string]any{"kua": a.ID, "sgc": sgcText(a.SGC), "types": a.Types.String()}})
		return err
	})
	if err != nil {
		return KUA{}, failed("revoke the authorisation", err)
	}
	return a, nil
}

const kuaColumns = `id, smid, sgc, kt_mask, valid_from, valid_until, granted_at, granted_by, revoked_at, revoked_by`

func scanKUA(row store.Scanner) (KUA, error) {
	var a KUA
	var sgc, mask, from, until, granted, revoked int64
	if err := row.Scan(&a.ID, &a.SMID, &sgc, &mask, &from, &until, &granted, &a.GrantedBy, &revoked, &a.RevokedBy); err != nil {
		return KUA{}, err
	}
	a.SGC, a.Types = int(sgc), KeyTypes(mask)
	a.From, a.Until, a.GrantedAt = time.Unix(from, 0).UTC(), time.Unix(until, 0).UTC(), time.Unix(granted, 0).UTC()
	if revoked != 0 {
		a.RevokedAt = time.Unix(revoked, 0).UTC()
	}
	return a, nil
}

// KUAs returns the authorisations of the module named by smRef (as for
// FindSM), or of every module if smRef is empty, revoked ones included.
func (k *KMC) KUAs(ctx context.Context, smRef string) ([]KUA, error) {
	q, args := `SELECT `+kuaColumns+` FROM kuas ORDER BY id`, []any(nil)
	if smRef != "" {
		sm, err := k.FindSM(ctx, smRef)
		if err != nil {
			return nil, err
		}
		q, args = `SELECT `+kuaColumns+` FROM kuas WHERE smid = $1 ORDER BY id`, []any{sm.SMID.String()}
	}
	out, err := store.All(ctx, k.db, q, args, scanKUA)
	if err != nil {
		return nil, failed("read authorisations", err)
	}
	return out, nil
}
