package kmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/store"
)

// MaxKLFKeys is the most vending keys the KMC puts in one Key Load File.
// An SM keeps at least 25 vending-key registers; the limit keeps each
// file's audit record within the audit log's size limit.
const MaxKLFKeys = 500

// KLF is an issued Key Load File.
type KLF struct {
	// SMID and KMCID are the request's: the module the file is for and the
	// KMC key it is made under.
	SMID, KMCID records.PKID
	// RequestTime is the request's t_req; IssueTime when the file was made.
	RequestTime, IssueTime time.Time
	// Bodies are the one-line records: KLF.HDR.1, the VK.1s, KLF.END.1.
	Bodies []string
	// File is the file-of-records (CRLF), the reply's attachment.
	File []byte
	// FileName is the attachment's name, <SMID id>_<issue time>.klf.
	FileName string
	// Keys are the vending keys the file carries, in file order, by KCV.
	Keys []IssuedKey
	// Emails are the addresses registered to receive the module's files.
	Emails []string
}

// IssuedKey names a vending key in a Key Load File, never its value.
type IssuedKey struct {
	ID   string
	SGC  int
	KRN  int
	Type KeyType
	KCV  string
}

// String returns e.g. "123456/VUDK/1/D5D44F".
func (k IssuedKey) String() string {
	return fmt.Sprintf("%06d/%s/%d/%s", k.SGC, k.Type, k.KRN, k.KCV)
}

// IssueKLFText is IssueKLF for a request as it arrives: a mail body or
// file-of-records holding exactly one VKLOAD.REQ.1 block (Record-in-Email,
// as mail clients mangle it; see package armor), or the one-line record.
// A text without exactly one well-formed request is ERecordFormat; a
// request whose only fault is a CRC is ERecordCrc.
func (k *KMC) IssueKLFText(ctx context.Context, actor string, text []byte) (*KLF, error) {
	req, err := ParseRequest(text)
	if err != nil {
		return nil, err
	}
	return k.IssueKLF(ctx, actor, req)
}

// requestType is the record type of a Key Load File request.
var requestType = records.VKLoadReqSpec.Type()

// ParseRequest finds and parses the one VKLOAD.REQ.1 of text (see
// IssueKLFText). Its errors are *Error with code ERecordFormat or
// ERecordCrc.
func ParseRequest(text []byte) (*records.VKLoadReq, error) {
	blocks, err := armor.Find(text)
	if err != nil {
		return nil, refuse(ERecordFormat, nil, "%w", err)
	}
	var bodies []string
	for _, b := range blocks {
		if b.Type == requestType {
			bodies = append(bodies, b.Body)
		}
	}
	if len(blocks) == 0 {
		for _, line := range strings.Split(string(text), "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, requestType+"|") {
				bodies = append(bodies, line)
			}
		}
	}
	if len(bodies) != 1 {
		return nil, refuse(ERecordFormat, nil, "%d %s records, want exactly one", len(bodies), requestType)
	}
	req, err := records.ParseVKLoadReq(bodies[0])
	switch {
	case req != nil && errors.Is(err, records.ErrCRC):
		return nil, refuse(ERecordCrc, nil, "%w", err)
	case err != nil:
		return nil, refuse(ERecordFormat, nil, "%w", err)
	}
	return req, nil
}

// IssueOptions are what a gateway adds to a request (see IssueKLFWith).
type IssueOptions struct {
	// Ref names this delivery of the request, such as the gateway's id of
	// the request mail. A request that was answered with a file under the
	// same Ref gets that file again, byte for byte, instead of
	// EVkloadReplayed — even past the freshness window or the KMC key's
	// expiry — so that a gateway that crashed after the KMC issued the
	// file and before it stored its reply never gets a second, different
	// file. Empty: no such memory.
	Ref string
	// ReplyTo, if not empty, are the addresses the file is to be sent to:
	// each must be registered for the module (ENotAuthorisedSender).
	ReplyTo []string
}

// IssueKLF answers a parsed VKLOAD.REQ.1 with a Key Load File; it is
// IssueKLFWith without options.
func (k *KMC) IssueKLF(ctx context.Context, actor string, req *records.VKLoadReq) (*KLF, error) {
	return k.IssueKLFWith(ctx, actor, req, IssueOptions{})
}

// IssueKLFWith answers a parsed VKLOAD.REQ.1 with a Key Load File, after
// these checks, in this order, each refusing with its own *Error code:
//
//  1. the request names a key of this KMC (EUnknownKmc) that has not
//     expired (EKmcKeyExpired);
//  2. its SMID's key hash names its public key (ERecordFormat);
//  3. its time lies within the freshness window of the KMC's clock
//     (EVkloadExpired);
//  4. its tag verifies under the KMC key it names (ETagInvalid);
//  5. the module is registered with that public key (EUnknownSm);
//  6. no file was issued for the request before (EVkloadReplayed);
//  7. the module is not revoked (ESmRevoked) and, in live mode, is
//     certified and not virtual (ESmNotCertified);
//  8. every address of o.ReplyTo is registered for it
//     (ENotAuthorisedSender);
//  9. it holds a valid key-use authorisation (ESmNotAuthorised) under
//     which at least one active vending key before its EXP may be issued
//     (ENoVendingKeys); a vending module never gets initialization keys.
//
// The file holds every such key, each wrapped for this module only. The
// request is recorded as seen (with o.Ref and the file) and the issue
// audited (which keys, by KCV) in one transaction: a request gets one file
// at most. Refusals of a registered module are audited too. Anything else
// that fails is EInternal.
func (k *KMC) IssueKLFWith(ctx context.Context, actor string, req *records.VKLoadReq, o IssueOptions) (*KLF, error) {
	is, err := k.newIssuing(actor, req, o)
	if err != nil {
		return nil, err
	}
	if err := is.findKMCKey(ctx); err != nil {
		return nil, err
	}
	if o.Ref != "" {
		if klf, err := k.issuedBefore(ctx, is.key, req, o.Ref); klf != nil || err != nil {
			return klf, err
		}
	}
	if err := is.checkRequest(); err != nil {
		return nil, err
	}
	z, err := is.agree(ctx)
	if err != nil {
		return nil, err
	}
	defer clear(z)
	var klf *KLF
	err = k.tx(ctx, func(tx *store.Tx) (err error) {
		klf, err = is.issueIn(ctx, tx, z)
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && is.registered {
			k.auditRefusal(ctx, actor, is.smid, is.tReq, e)
		}
		return nil, internal(err)
	}
	return klf, nil
}

// issuing is one VKLOAD.REQ.1 being answered by IssueKLFWith: the request,
// its options, and what the checks have found so far.
type issuing struct {
	k       *KMC
	actor   string
	req     *records.VKLoadReq
	ref     string
	replyTo []string // normalised
	mode    Mode     // the KMC's
	now     time.Time
	// smid, kmcid and tReq are the request's names, as parameters of its
	// refusals.
	smid, kmcid, tReq string
	key               Key  // the KMC key the request names (findKMCKey)
	registered        bool // the module is registered: a refusal is audited
}

// newIssuing starts answering req: it reads the KMC's mode and clock and
// normalises o.ReplyTo (ENotAuthorisedSender if an address is malformed).
func (k *KMC) newIssuing(actor string, req *records.VKLoadReq, o IssueOptions) (*issuing, error) {
	id, err := k.Identity()
	if err != nil {
		return nil, internal(err)
	}
	if req == nil {
		return nil, refuse(ERecordFormat, nil, "no request")
	}
	replyTo, err := normaliseEmails(o.ReplyTo)
	if err != nil {
		return nil, refuse(ENotAuthorisedSender, nil, "%w", err)
	}
	return &issuing{k: k, actor: actor, req: req, ref: o.Ref, replyTo: replyTo, mode: id.Mode, now: k.now().UTC(),
		smid: req.SMID.String(), kmcid: req.KMCID.String(), tReq: req.Time.UTC().Format(records.TimeLayout)}, nil
}

// findKMCKey finds the KMC key the request names (check 1, EUnknownKmc).
func (is *issuing) findKMCKey(ctx context.Context) error {
	key, err := is.k.keyFor(ctx, is.kmcid)
	if errors.Is(err, ErrNotFound) {
		return refuse(EUnknownKmc, []string{is.kmcid}, "request made for %s, not a key of this KMC", is.kmcid)
	}
	if err != nil {
		return internal(err)
	}
	is.key = key
	return nil
}

// checkRequest checks what the request says alone: the KMC key has not
// expired (check 1, EKmcKeyExpired), the SMID's key hash names the public
// key (check 2, ERecordFormat) and the request is fresh (check 3,
// EVkloadExpired).
func (is *issuing) checkRequest() error {
	if is.key.Expired(is.now) {
		return refuse(EKmcKeyExpired, []string{is.kmcid}, "%s expired %s", is.kmcid, is.key.Expiry().Format(records.TimeLayout))
	}
	if err := is.req.CheckKeyHash(); err != nil {
		return refuse(ERecordFormat, []string{is.smid}, "%w", err)
	}
	if d := is.now.Sub(is.req.Time); d > is.k.window || d < -is.k.window {
		return refuse(EVkloadExpired, []string{is.tReq}, "request made %s, now %s, window ±%v", is.tReq,
			is.now.Format(records.TimeLayout), is.k.window)
	}
	return nil
}

// agree returns the secret the KMC key shares with the module's public key,
// after verifying the request's tag under it (check 4, ETagInvalid). The
// caller clears it.
func (is *issuing) agree(ctx context.Context) ([]byte, error) {
	z, err := is.k.custody.ECDH(ctx, is.key.Name, is.req.PublicKey)
	if err != nil {
		return nil, internal(fmt.Errorf("kmc: ECDH with %s: %w", is.key.Name, err))
	}
	if err := keyload.VerifyTag(z, is.req); err != nil {
		clear(z)
		if errors.Is(err, keyagree.ErrTagMismatch) {
			return nil, refuse(ETagInvalid, []string{is.smid}, "%w", err)
		}
		return nil, internal(err)
	}
	return z, nil
}

// issueIn makes the file in tx after the checks that need the registry
// (5 to 9), records the request as seen and audits the issue.
func (is *issuing) issueIn(ctx context.Context, tx *store.Tx, z []byte) (*KLF, error) {
	is.registered = false
	sm, err := is.registeredSM(ctx, tx)
	if err != nil {
		return nil, err
	}
	is.registered = true
	if err := is.checkNotSeen(ctx, tx); err != nil {
		return nil, err
	}
	if err := is.checkModule(sm); err != nil {
		return nil, err
	}
	keys, err := is.k.authorisedKeys(ctx, tx, sm, is.now)
	if err != nil {
		return nil, err
	}
	defer func() {
		for i := range keys {
			keys[i].vk.Zero()
		}
	}()
	klf, err := is.k.makeKLF(z, is.req, sm, keys, is.now)
	if err != nil {
		return nil, err
	}
	if err := is.record(ctx, tx, klf); err != nil {
		return nil, err
	}
	return klf, nil
}

// registeredSM returns the module, registered with the request's public
// key (check 5, EUnknownSm).
func (is *issuing) registeredSM(ctx context.Context, tx *store.Tx) (SM, error) {
	sm, err := scanSM(tx.QueryRow(ctx, `SELECT `+smColumns+` FROM sms WHERE smid = $1`, is.smid))
	if errors.Is(err, store.ErrNotFound) {
		return SM{}, refuse(EUnknownSm, []string{is.smid}, "%s is not registered", is.smid)
	}
	if err != nil {
		return SM{}, err
	}
	if !bytes.Equal(sm.PublicKey.Bytes(), is.req.PublicKey.Bytes()) {
		return SM{}, refuse(EUnknownSm, []string{is.smid}, "%s is registered with another public key", is.smid)
	}
	return sm, nil
}

// checkNotSeen checks that no file was issued for the request before
// (check 6, EVkloadReplayed).
func (is *issuing) checkNotSeen(ctx context.Context, tx *store.Tx) error {
	var seen int64
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM seen_requests WHERE smid = $1 AND t_req = $2`,
		is.smid, is.req.Time.Unix()).Scan(&seen); err != nil {
		return err
	}
	if seen > 0 {
		return is.replayed()
	}
	return nil
}

// replayed is the refusal of a request that was answered before.
func (is *issuing) replayed() error {
	return refuse(EVkloadReplayed, []string{is.smid, is.tReq}, "a Key Load File was issued for the request of %s", is.tReq)
}

// checkModule checks that the module may receive a file (check 7: not
// revoked, ESmRevoked; in live mode certified and not virtual,
// ESmNotCertified) at every address of the reply (check 8,
// ENotAuthorisedSender).
func (is *issuing) checkModule(sm SM) error {
	live := is.mode == ModeLive
	switch {
	case sm.Revoked:
		return refuse(ESmRevoked, []string{is.smid}, "revoked %s: %s", sm.RevokedAt.Format(records.TimeLayout), sm.RevokeReason)
	case live && (sm.Virtual || knownVirtual(sm.Model) || knownVirtual(is.req.Model)):
		return refuse(ESmNotCertified, []string{is.smid}, "a live KMC serves no virtual module")
	case live && !sm.Certified:
		return refuse(ESmNotCertified, []string{is.smid}, "not certified")
	}
	if addr := unregistered(is.replyTo, sm.Emails); addr != "" {
		return refuse(ENotAuthorisedSender, []string{addr}, "%s is not registered for %s", addr, is.smid)
	}
	return nil
}

// record records the request as seen, with its Ref and file (a second
// issue for it conflicts: EVkloadReplayed), and audits the issue: which
// keys, by KCV.
func (is *issuing) record(ctx context.Context, tx *store.Tx, klf *KLF) error {
	_, err := tx.Exec(ctx, `INSERT INTO seen_requests (smid, t_req, kmcid, t_issue, n_vk, ref, klf)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, is.smid, is.req.Time.Unix(), is.kmcid, klf.IssueTime.Unix(), len(klf.Keys), is.ref,
		string(klf.File))
	if errors.Is(err, store.ErrConflict) {
		return is.replayed()
	}
	if err != nil {
		return err
	}
	issued := make([]string, len(klf.Keys))
	for i, ik := range klf.Keys {
		issued[i] = ik.String()
	}
	_, err = is.k.log.Append(ctx, tx, audit.Entry{Actor: is.actor, Action: "klf.issue", Subject: is.smid,
		Details: map[string]any{"kmcid": is.kmcid, "t_req": is.tReq, "t_issue": klf.IssueTime.Format(records.TimeLayout),
			"n_vk": len(klf.Keys), "keys": issued, "file": klf.FileName}})
	return err
}

// auditRefusal records a refused request of a registered module, in its
// own transaction (the refused one rolled back). A failure to record it
// does not change the answer.
func (k *KMC) auditRefusal(ctx context.Context, actor, smid, tReq string, e *Error) {
	ctx = context.WithoutCancel(ctx)
	_ = k.tx(ctx, func(tx *store.Tx) error {
		_, err := k.log.Append(ctx, tx, audit.Entry{Actor: actor, Action: "klf.refuse", Subject: smid,
			Details: map[string]any{"code": string(e.Code), "t_req": tReq}})
		return err
	})
}

// authorisedKey is a vending key to issue, in clear.
type authorisedKey struct {
	info VendingKey
	vk   keyload.VendingKey
}

// authorisedKeys returns, unsealed, every vending key sm may receive at
// now: under a valid authorisation for its supply group and type, active,
// before its EXP, and allowed for the module's variant. The caller zeroes
// them.
func (k *KMC) authorisedKeys(ctx context.Context, tx *store.Tx, sm SM, now time.Time) (out []authorisedKey, err error) {
	smid := sm.SMID.String()
	types := map[int]KeyTypes{}
	err = store.EachRow(ctx, tx, `SELECT sgc, kt_mask FROM kuas WHERE smid = $1 AND revoked_at = 0
		AND valid_from <= $2 AND valid_until > $2`, []any{smid, now.Unix()}, func(row store.Scanner) error {
		var sgc, mask int64
		if err := row.Scan(&sgc, &mask); err != nil {
			return err
		}
		types[int(sgc)] |= KeyTypes(mask)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(types) == 0 {
		return nil, refuse(ESmNotAuthorised, []string{smid}, "no valid key-use authorisation")
	}
	defer func() {
		if err != nil {
			for i := range out {
				out[i].vk.Zero()
			}
			out = nil
		}
	}()
	err = store.EachRow(ctx, tx, `SELECT `+vkColumns+`, sealed FROM vending_keys WHERE state = $1 AND exp > $2
		AND sgc IN (SELECT sgc FROM kuas WHERE smid = $3 AND revoked_at = 0 AND valid_from <= $2 AND valid_until > $2)
		ORDER BY sgc, kt, seq`, []any{StateActive, now.Unix(), smid}, func(row store.Scanner) error {
		var sealed []byte
		v, err := scanVK(row, &sealed)
		if err != nil {
			return err
		}
		if !types[v.SGC].Has(v.Type) || !sm.Variant.mayReceive(v.Type) || !v.Issuable(now) {
			return nil
		}
		if len(out) == MaxKLFKeys {
			return fmt.Errorf("kmc: %s is authorised for more than %d vending keys", smid, MaxKLFKeys)
		}
		key, err := k.openVK(ctx, v, sealed)
		if err != nil {
			return err
		}
		out = append(out, authorisedKey{info: v, vk: keyload.VendingKey{SGC: v.SGC, KRN: v.KRN, KT: int(v.Type),
			BDT: v.BDT, DKGA: v.DKGA, EA: v.EA, KEN: v.KEN, ACT: v.ACT, IUT: v.IUT, CLM: v.CLM, Key: key}})
		return nil
	})
	if err != nil {
		return out, err
	}
	if len(out) == 0 {
		return nil, refuse(ENoVendingKeys, []string{smid}, "no issuable vending key under the module's authorisations")
	}
	return out, nil
}

// makeKLF builds the file and its description.
func (k *KMC) makeKLF(z []byte, req *records.VKLoadReq, sm SM, keys []authorisedKey, now time.Time) (*KLF, error) {
	vks := make([]keyload.VendingKey, len(keys))
	klf := &KLF{SMID: req.SMID, KMCID: req.KMCID, RequestTime: req.Time, IssueTime: now.Truncate(time.Second),
		Emails: sm.Emails, Keys: make([]IssuedKey, len(keys))}
	for i, ak := range keys {
		vks[i] = ak.vk
		klf.Keys[i] = IssuedKey{ID: ak.info.ID, SGC: ak.info.SGC, KRN: ak.info.KRN, Type: ak.info.Type, KCV: ak.info.KCV}
	}
	var err error
	if klf.Bodies, err = keyload.IssueUnder(z, req, vks, klf.IssueTime, nil); err != nil {
		return nil, err
	}
	if klf.File, err = armor.File(klf.Bodies...); err != nil {
		return nil, err
	}
	klf.FileName = armor.FileName(req.SMID.ID, klf.IssueTime, "klf")
	return klf, nil
}

// unregistered returns the first address of replyTo that is not among
// registered (compared without case), or "".
func unregistered(replyTo, registered []string) string {
	for _, a := range replyTo {
		found := false
		for _, r := range registered {
			found = found || strings.EqualFold(a, r)
		}
		if !found {
			return a
		}
	}
	return ""
}

// issuedBefore returns the file issued for req under ref, if there is one
// and req's tag verifies (else ETagInvalid); nil, nil if there is none.
func (k *KMC) issuedBefore(ctx context.Context, key Key, req *records.VKLoadReq, ref string) (*KLF, error) {
	smid := req.SMID.String()
	if err := req.CheckKeyHash(); err != nil {
		return nil, refuse(ERecordFormat, []string{smid}, "%w", err)
	}
	var file string
	var tIssue int64
	err := k.db.QueryRow(ctx, `SELECT klf, t_issue FROM seen_requests WHERE smid = $1 AND t_req = $2 AND kmcid = $3 AND ref = $4`,
		smid, req.Time.Unix(), key.KMCID.String(), ref).Scan(&file, &tIssue)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, internal(err)
	}
	if err := k.verifyTag(ctx, key, req); err != nil {
		if errors.Is(err, keyagree.ErrTagMismatch) {
			return nil, refuse(ETagInvalid, []string{smid}, "%w", err)
		}
		return nil, internal(err)
	}
	blocks, err := armor.ParseFile([]byte(file))
	if err != nil {
		return nil, internal(fmt.Errorf("kmc: stored Key Load File: %w", err))
	}
	klf := &KLF{SMID: req.SMID, KMCID: req.KMCID, RequestTime: req.Time, IssueTime: time.Unix(tIssue, 0).UTC(),
		File: []byte(file)}
	klf.FileName = armor.FileName(req.SMID.ID, klf.IssueTime, "klf")
	for i, b := range blocks {
		klf.Bodies = append(klf.Bodies, b.Body)
		if i == 0 || i == len(blocks)-1 {
			continue
		}
		vk, err := records.ParseVK(b.Body)
		if err != nil {
			return nil, internal(fmt.Errorf("kmc: stored Key Load File: %w", err))
		}
		klf.Keys = append(klf.Keys, IssuedKey{SGC: vk.SGC, KRN: vk.KRN, Type: KeyType(vk.KT), KCV: fmt.Sprintf("%X", vk.KCV)})
	}
	if sm, err := k.FindSM(ctx, smid); err == nil {
		klf.Emails = sm.Emails
	}
	return klf, nil
}
