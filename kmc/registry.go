package kmc

import (
	"context"
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/store"
)

// SM is a security module in the KMC's registry.
type SM struct {
	// SMID names the module's static ECDH key; its key hash must name
	// PublicKey.
	SMID records.PKID
	// PublicKey is the module's static P-384 ECDH key.
	PublicKey *ecdh.PublicKey
	// Model and Firmware are as the module's VKLOAD.REQ.1 gives them: an
	// IDENT of 1 to 32 characters, and one of exactly 8.
	Model, Firmware string
	// Variant is vending or manufacturing.
	Variant Variant
	// Virtual marks a software module (such as stskms's own): a live KMC
	// refuses to register it.
	Virtual bool
	// Certified marks a hardware module attested by the STS Association;
	// a live KMC issues Key Load Files only to certified modules.
	Certified bool
	// Emails are the addresses allowed to receive the module's Key Load
	// Files (the gateway sends only to these).
	Emails []string

	RegisteredAt time.Time
	RegisteredBy string

	Revoked      bool
	RevokedAt    time.Time
	RevokedBy    string
	RevokeReason string
}

// Ref returns the short name operators use for the module: the SMID's
// vendor and id, "TestVendor:94000001".
func (s SM) Ref() string { return s.SMID.Vendor + ":" + s.SMID.ID }

// checkIdent applies the IDENT rule of package records: 1 to max
// characters of A-Z a-z 0-9 - _ ., the first a letter or digit.
func checkIdent(what, s string, min, max int) error {
	if len(s) < min || len(s) > max {
		return fmt.Errorf("%w: %s %q: %d characters, want %d to %d", ErrInvalid, what, s, len(s), min, max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return fmt.Errorf("%w: %s %q: not an IDENT (A-Z a-z 0-9 - _ ., a letter or digit first)", ErrInvalid, what, s)
		}
	}
	return nil
}

// DefaultVirtual is whether a module registered without saying so is
// virtual (software): on a test KMC yes, unless it is certified hardware;
// on a live KMC, which registers no virtual module, no. The CLI (kmc sm
// register) and the HTTP API (POST /v1/sms) both apply it.
func DefaultVirtual(mode Mode, certified bool) bool { return mode == ModeTest && !certified }

// knownVirtual reports a model that says it is software: stskms's own
// security module reports "stskms-SoftSM" (package sm), and every model of
// this project is software. Such a module is virtual whatever the registry
// says.
func knownVirtual(model string) bool { return strings.HasPrefix(model, "stskms-") }

// normaliseEmails parses each address (RFC 5322 addr-spec, optionally with
// a display name) and returns the bare addresses, without duplicates
// (compared without case).
func normaliseEmails(in []string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range in {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		a, err := mail.ParseAddress(s)
		if err != nil || !strings.Contains(a.Address, "@") || checkText("e-mail address", a.Address, 254) != nil {
			return nil, fmt.Errorf("%w: e-mail address %q", ErrInvalid, s)
		}
		if key := strings.ToLower(a.Address); !seen[key] {
			seen[key] = true
			out = append(out, a.Address)
		}
	}
	return out, nil
}

// RegisterSM adds a security module to the registry. Its SMID must be an
// SMID.1 whose key hash names PublicKey; model and firmware must be
// IDENTs (firmware of 8 characters); a module cannot be both virtual and
// certified. A live KMC refuses a virtual module (ErrMode). ErrExists if
// the SMID is registered already.
func (k *KMC) RegisterSM(ctx context.Context, actor string, sm SM) (SM, error) {
	id, err := k.Identity()
	if err != nil {
		return SM{}, err
	}
	if sm.SMID.Type != records.SMID {
		return SM{}, fmt.Errorf("%w: %q is not an SMID.1", ErrInvalid, sm.SMID.Type)
	}
	if err := sm.SMID.Validate(); err != nil {
		return SM{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := sm.SMID.CheckKey(sm.PublicKey); err != nil {
		return SM{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := checkIdent("model", sm.Model, 1, 32); err != nil {
		return SM{}, err
	}
	if err := checkIdent("firmware", sm.Firmware, 8, 8); err != nil {
		return SM{}, err
	}
	if _, err := ParseVariant(string(sm.Variant)); err != nil {
		return SM{}, err
	}
	if id.Mode == ModeLive && (sm.Virtual || knownVirtual(sm.Model)) {
		return SM{}, fmt.Errorf("%w: a live KMC does not register virtual (software) modules (STS 600-10-1 §4.5): "+
			"register a test or virtual module with a test KMC (stskms kmc init --mode test)", ErrMode)
	}
	if knownVirtual(sm.Model) && !sm.Virtual {
		return SM{}, fmt.Errorf("%w: model %s is stskms's software module: register it as virtual", ErrInvalid, sm.Model)
	}
	if sm.Virtual && sm.Certified {
		return SM{}, fmt.Errorf("%w: a virtual module cannot be certified", ErrInvalid)
	}
	if sm.Emails, err = normaliseEmails(sm.Emails); err != nil {
		return SM{}, err
	}
	sm.RegisteredAt, sm.RegisteredBy = k.now().UTC().Truncate(time.Second), actor
	sm.Revoked, sm.RevokedAt, sm.RevokedBy, sm.RevokeReason = false, time.Time{}, "", ""
	emails, _ := json.Marshal(sm.Emails)
	smid := sm.SMID.String()
	err = k.tx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sms (smid, vendor, sm_id, public_key, model, firmware, variant, virtual,
			certified, emails, registered_at, registered_by, revoked_at, revoked_by, revoke_reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, '', '')`,
			smid, sm.SMID.Vendor, sm.SMID.ID, sm.PublicKey.Bytes(), sm.Model, sm.Firmware, string(sm.Variant),
			boolInt(sm.Virtual), boolInt(sm.Certified), string(emails), sm.RegisteredAt.Unix(), actor)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: security module %s", ErrExists, smid)
		}
		if err != nil {
			return err
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "sm.register", Subject: smid,
			Details: map[string]any{"model": sm.Model, "firmware": sm.Firmware, "variant": string(sm.Variant),
				"virtual": sm.Virtual, "certified": sm.Certified, "emails": sm.Emails}})
		return err
	})
	if err != nil {
		return SM{}, failed("register", err)
	}
	return sm, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Registration is what an operator adds to a module's VKLOAD.REQ.1 to
// register it (see RegisterSMFromRequest).
type Registration struct {
	Variant   Variant
	Virtual   bool
	Certified bool
	Emails    []string
}

// RegisterSMFromRequest registers the module that made req, a VKLOAD.REQ.1
// made for one of this KMC's keys (expired or not): its SMID, public key,
// model and firmware come from the request, whose tag must verify — proof
// that the module holds the private key. The request's time does not
// matter and the request is not used up.
func (k *KMC) RegisterSMFromRequest(ctx context.Context, actor string, req *records.VKLoadReq, reg Registration) (SM, error) {
	if req == nil {
		return SM{}, fmt.Errorf("%w: no request", ErrInvalid)
	}
	if err := req.CheckKeyHash(); err != nil {
		return SM{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	key, err := k.keyFor(ctx, req.KMCID.String())
	if errors.Is(err, ErrNotFound) {
		return SM{}, fmt.Errorf("%w: the request is made for %s, not a key of this KMC", ErrInvalid, req.KMCID)
	}
	if err != nil {
		return SM{}, err
	}
	if err := k.verifyTag(ctx, key, req); err != nil {
		return SM{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return k.RegisterSM(ctx, actor, SM{SMID: req.SMID, PublicKey: req.PublicKey, Model: req.Model, Firmware: req.Firmware,
		Variant: reg.Variant, Virtual: reg.Virtual, Certified: reg.Certified, Emails: reg.Emails})
}

// verifyTag checks a request's tag with the KMC key it names.
func (k *KMC) verifyTag(ctx context.Context, key Key, req *records.VKLoadReq) error {
	z, err := k.custody.ECDH(ctx, key.Name, req.PublicKey)
	if err != nil {
		return err
	}
	defer clear(z)
	return keyload.VerifyTag(z, req)
}

// smColumns is the select list scanSM reads.
const smColumns = `smid, public_key, model, firmware, variant, virtual, certified, emails, registered_at, registered_by,
	revoked_at, revoked_by, revoke_reason`

func scanSM(row store.Scanner) (SM, error) {
	var sm SM
	var smid, variant, emails string
	var pub []byte
	var virtual, certified, registered, revoked int64
	if err := row.Scan(&smid, &pub, &sm.Model, &sm.Firmware, &variant, &virtual, &certified, &emails, &registered,
		&sm.RegisteredBy, &revoked, &sm.RevokedBy, &sm.RevokeReason); err != nil {
		return SM{}, err
	}
	var err error
	if sm.SMID, err = records.ParsePKID(smid); err != nil {
		return SM{}, fmt.Errorf("kmc: registry entry %q: %w", smid, err)
	}
	if sm.PublicKey, err = keyagree.ParsePublicKey(pub); err != nil {
		return SM{}, fmt.Errorf("kmc: registry entry %s: %w", smid, err)
	}
	if err := json.Unmarshal([]byte(emails), &sm.Emails); err != nil {
		return SM{}, fmt.Errorf("kmc: registry entry %s: e-mail addresses: %w", smid, err)
	}
	sm.Variant, sm.Virtual, sm.Certified = Variant(variant), virtual != 0, certified != 0
	sm.RegisteredAt = time.Unix(registered, 0).UTC()
	if revoked != 0 {
		sm.Revoked, sm.RevokedAt = true, time.Unix(revoked, 0).UTC()
	}
	return sm, nil
}

// SMs returns every registered module, by vendor and id.
func (k *KMC) SMs(ctx context.Context) ([]SM, error) {
	var sms []SM
	err := eachRow(ctx, k.db, "read the registry", `SELECT `+smColumns+` FROM sms ORDER BY vendor, sm_id, registered_at, smid`, nil,
		func(row store.Scanner) error {
			sm, err := scanSM(row)
			if err == nil {
				sms = append(sms, sm)
			}
			return err
		})
	if err != nil {
		return nil, err
	}
	return sms, nil
}

// FindSM returns the registered module named by ref: its full SMID text,
// "vendor:id" or just its id, which must then name one module only.
func (k *KMC) FindSM(ctx context.Context, ref string) (SM, error) {
	return findSM(ctx, k.db, ref)
}

func findSM(ctx context.Context, db store.Querier, ref string) (SM, error) {
	q, args := `SELECT `+smColumns+` FROM sms WHERE smid = $1`, []any{ref}
	if !strings.HasPrefix(ref, string(records.SMID)+":") {
		if vendor, id, ok := strings.Cut(ref, ":"); ok {
			q, args = `SELECT `+smColumns+` FROM sms WHERE vendor = $1 AND sm_id = $2`, []any{vendor, id}
		} else {
			q = `SELECT ` + smColumns + ` FROM sms WHERE sm_id = $1`
		}
	}
	found, err := store.All(ctx, db, q+` ORDER BY registered_at, smid`, args, scanSM)
	if err != nil {
		return SM{}, failed("read the registry", err)
	}
	switch len(found) {
	case 0:
		return SM{}, fmt.Errorf("%w: security module %q", ErrNotFound, ref)
	case 1:
		return found[0], nil
	}
	return SM{}, fmt.Errorf("%w: %q names %d security modules; give the full SMID", ErrInvalid, ref, len(found))
}

// RevokeSM revokes a module's registration for good: it gets no Key Load
// File from then on. ErrRevoked if it is revoked already.
func (k *KMC) RevokeSM(ctx context.Context, actor, ref, reason string) (SM, error) {
	if err := checkText("reason", reason, 256); err != nil {
		return SM{}, err
	}
	var sm SM
	err := k.tx(ctx, func(tx *store.Tx) error {
		var err error
		if sm, err = findSM(ctx, tx, ref); err != nil {
			return err
		}
		if sm.Revoked {
			return fmt.Errorf("%w: security module %s, on %s", ErrRevoked, sm.SMID, sm.RevokedAt.Format(records.TimeLayout))
		}
		sm.Revoked, sm.RevokedAt, sm.RevokedBy, sm.RevokeReason = true, k.now().UTC().Truncate(time.Second), actor, reason
		if _, err := tx.Exec(ctx, `UPDATE sms SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 WHERE smid = $4`,
			sm.RevokedAt.Unix(), actor, reason, sm.SMID.String()); err != nil {
			return err
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "sm.revoke", Subject: sm.SMID.String(),
			Details: map[string]any{"reason": reason}})
		return err
	})
	if err != nil {
		return SM{}, failed("revoke", err)
	}
	return sm, nil
}

// SetSMEmails replaces the addresses allowed to receive a module's Key
// Load Files — for a module the STS Association's registry update added
// (it comes without any), or when its operators change. An empty list
// means no file is ever mailed for it. The change is audited with the old
// and the new list.
func (k *KMC) SetSMEmails(ctx context.Context, actor, ref string, emails []string) (SM, error) {
	emails, err := normaliseEmails(emails)
	if err != nil {
		return SM{}, err
	}
	var sm SM
	err = k.tx(ctx, func(tx *store.Tx) error {
		var err error
		if sm, err = findSM(ctx, tx, ref); err != nil {
			return err
		}
		if sm.Revoked {
			return fmt.Errorf("%w: security module %s", ErrRevoked, sm.SMID)
		}
		old := sm.Emails
		sm.Emails = emails
		list, _ := json.Marshal(emails)
		if _, err := tx.Exec(ctx, `UPDATE sms SET emails = $1 WHERE smid = $2`, string(list), sm.SMID.String()); err != nil {
			return err
		}
		_, err = k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "sm.emails", Subject: sm.SMID.String(),
			Details: map[string]any{"old": old, "new": emails}})
		return err
	})
	if err != nil {
		return SM{}, failed("set the addresses", err)
	}
	return sm, nil
}
