package api

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stskms/stskms/kmc"
)

// IdentityAnswer is GET /v1/identity.
type IdentityAnswer struct {
	Vendor  string   `json:"vendor"`
	ID      string   `json:"id"`
	Mode    kmc.Mode `json:"mode"`
	Warning string   `json:"warning,omitempty"` // kmc.TestModeWarning in test mode
}

// PublicKeyAnswer is GET /v1/pubkey: the current KMC key as published.
type PublicKeyAnswer struct {
	KMCID       string    `json:"kmcid"`
	Fingerprint string    `json:"fingerprint"`
	PKECDH      string    `json:"pkecdh"` // the one-line PK.ECDH.1
	Expiry      time.Time `json:"expiry"`
	// Text is the fingerprint line and the PK.ECDH.1 in Record-in-Email
	// form (CRLF), exactly as the gateway's {KMS:GetPublicKey} reply.
	Text string `json:"text"`
}

// Key is a KMC key pair as published.
type Key struct {
	Seq         int       `json:"seq"`
	KMCID       string    `json:"kmcid"`
	Fingerprint string    `json:"fingerprint"`
	PKECDH      string    `json:"pkecdh"`
	Expiry      time.Time `json:"expiry"`
	State       string    `json:"state"` // current, valid or expired
	CreatedBy   string    `json:"created_by"`
}

// KeysAnswer is GET /v1/keys, oldest first.
type KeysAnswer struct {
	Keys []Key `json:"keys"`
}

// RotateRequest is POST /v1/keys.
type RotateRequest struct {
	RequestID string `json:"request_id,omitempty"`
	// LifetimeDays is the new key's validity (0: kmc.DefaultKeyLifetime).
	LifetimeDays int `json:"lifetime_days,omitempty"`
}

// SupplyGroup is a supply group.
type SupplyGroup struct {
	SGC       int       `json:"sgc"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// SupplyGroupsAnswer is GET /v1/supply-groups.
type SupplyGroupsAnswer struct {
	SupplyGroups []SupplyGroup `json:"supply_groups"`
}

// AddSupplyGroupRequest is POST /v1/supply-groups.
type AddSupplyGroupRequest struct {
	RequestID string `json:"request_id,omitempty"`
	SGC       int    `json:"sgc"`
	Name      string `json:"name"`
}

// VKAttributes are a new vending key's attributes. Omitted ones take the
// defaults of "stskms kmc vk generate": next KRN, BDT 2014, DKGA 04, EA 11,
// KEN 255, ACT now, EXP ACT + 10 years, IUT EXP, CLM FFFFFFFF.
type VKAttributes struct {
	SGC  int       `json:"sgc"`
	Type string    `json:"type"` // VDDK, VUDK, VCDK or INIT
	KRN  int       `json:"krn,omitempty"`
	BDT  int       `json:"bdt,omitempty"`
	DKGA int       `json:"dkga,omitempty"`
	EA   int       `json:"ea,omitempty"`
	KEN  *int      `json:"ken,omitempty"`
	ACT  time.Time `json:"act,omitzero"`
	EXP  time.Time `json:"exp,omitzero"`
	IUT  time.Time `json:"iut,omitzero"`
	CLM  string    `json:"clm,omitempty"` // 8 hex digits
}

// Attributes returns a's kmc form with the defaults filled in, now being
// the KMC's clock (the console reads its import form with it too).
func (a VKAttributes) Attributes(now time.Time) (kmc.VKAttributes, error) {
	kt, err := kmc.ParseKeyType(a.Type)
	if err != nil {
		return kmc.VKAttributes{}, err
	}
	out := kmc.VKAttributes{SGC: a.SGC, KRN: a.KRN, Type: kt, BDT: a.BDT, DKGA: a.DKGA, EA: a.EA, KEN: 255,
		ACT: a.ACT.UTC(), EXP: a.EXP.UTC(), IUT: a.IUT.UTC(), CLM: 0xFFFFFFFF}
	if a.KEN != nil {
		out.KEN = *a.KEN
	}
	if a.CLM != "" {
		clm, err := strconv.ParseUint(a.CLM, 16, 32)
		if err != nil || len(a.CLM) != 8 {
			return kmc.VKAttributes{}, fmt.Errorf("%w: CLM %q is not 8 hex digits", kmc.ErrInvalid, a.CLM)
		}
		out.CLM = uint32(clm)
	}
	fill(&out.BDT, 2014)
	fill(&out.DKGA, 4)
	fill(&out.EA, 11)
	if a.ACT.IsZero() {
		out.ACT = now.UTC().Truncate(time.Second)
	}
	if a.EXP.IsZero() {
		out.EXP = out.ACT.AddDate(10, 0, 0)
	}
	if a.IUT.IsZero() {
		out.IUT = out.EXP
	}
	return out, nil
}

func fill(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

// VendingKey is a vending key: its attributes and KCV, never its value.
type VendingKey struct {
	ID        string    `json:"id"`
	SGC       int       `json:"sgc"`
	Type      string    `json:"type"`
	KRN       int       `json:"krn"`
	BDT       int       `json:"bdt"`
	DKGA      int       `json:"dkga"`
	EA        int       `json:"ea"`
	KEN       int       `json:"ken"`
	ACT       time.Time `json:"act"`
	EXP       time.Time `json:"exp"`
	IUT       time.Time `json:"iut"`
	CLM       string    `json:"clm"`
	KCV       string    `json:"kcv"`
	Origin    string    `json:"origin"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	RetiredBy string    `json:"retired_by,omitempty"`
}

func vendingKeyOf(v kmc.VendingKey) VendingKey {
	return VendingKey{ID: v.ID, SGC: v.SGC, Type: v.Type.String(), KRN: v.KRN, BDT: v.BDT, DKGA: v.DKGA, EA: v.EA,
		KEN: v.KEN, ACT: v.ACT, EXP: v.EXP, IUT: v.IUT, CLM: fmt.Sprintf("%08X", v.CLM), KCV: v.KCV, Origin: v.Origin,
		State: v.State, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, RetiredAt: v.RetiredAt, RetiredBy: v.RetiredBy}
}

// VendingKeysAnswer is GET /v1/vending-keys.
type VendingKeysAnswer struct {
	VendingKeys []VendingKey `json:"vending_keys"`
}

// GenerateRequest is POST /v1/vending-keys.
type GenerateRequest struct {
	RequestID string `json:"request_id,omitempty"`
	VKAttributes
}

// Component is one officer's component of a vending key being imported:
// the value and its KCV in hex. The officer is the caller.
type Component struct {
	Value string `json:"value"`
	KCV   string `json:"kcv"`
}

// KeyComponent decodes c for officer; the caller clears the value.
func (c Component) KeyComponent(officer string) (kmc.KeyComponent, error) {
	value, err1 := hex.DecodeString(c.Value)
	kcv, err2 := hex.DecodeString(c.KCV)
	if err1 != nil || err2 != nil {
		clear(value)
		return kmc.KeyComponent{}, fmt.Errorf("%w: the component and its KCV must be hex", kmc.ErrInvalid)
	}
	return kmc.KeyComponent{Officer: officer, Value: value, KCV: kcv}, nil
}

// StartImportRequest is POST /v1/vending-keys/imports: the first officer's
// component of a key to import and the key's attributes.
type StartImportRequest struct {
	RequestID string `json:"request_id,omitempty"`
	VKAttributes
	// Quorum is how many officers' components make the key (2 to
	// MaxQuorum; 0 means 2).
	Quorum int `json:"quorum,omitempty"`
	// KCV, if given, is the combined key's KCV in hex.
	KCV       string    `json:"kcv,omitempty"`
	Component Component `json:"component"`
}

// ComponentRequest is POST /v1/vending-keys/imports/{id}/components: a
// further officer's component.
type ComponentRequest struct {
	Component Component `json:"component"`
}

// ImportAnswer is the state of an import: pending (with the officers who
// gave their components so far) or complete (with the imported key).
type ImportAnswer struct {
	ID       string      `json:"id"`
	State    string      `json:"state"` // pending or complete
	Quorum   int         `json:"quorum"`
	Officers []string    `json:"officers"`
	Expires  time.Time   `json:"expires,omitzero"`
	Key      *VendingKey `json:"key,omitempty"`
}

// ImportsAnswer is GET /v1/vending-keys/imports: the pending imports.
type ImportsAnswer struct {
	Imports []ImportAnswer `json:"imports"`
}

// SM is a security module of the registry.
type SM struct {
	SMID         string    `json:"smid"`
	Ref          string    `json:"ref"`
	PublicKey    string    `json:"public_key"` // hex, uncompressed point
	Model        string    `json:"model"`
	Firmware     string    `json:"firmware"`
	Variant      string    `json:"variant"`
	Virtual      bool      `json:"virtual"`
	Certified    bool      `json:"certified"`
	Emails       []string  `json:"emails"`
	RegisteredAt time.Time `json:"registered_at"`
	RegisteredBy string    `json:"registered_by"`
	Revoked      bool      `json:"revoked"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

func smOf(s kmc.SM) SM {
	out := SM{SMID: s.SMID.String(), Ref: s.Ref(), Model: s.Model, Firmware: s.Firmware, Variant: string(s.Variant),
		Virtual: s.Virtual, Certified: s.Certified, Emails: s.Emails, RegisteredAt: s.RegisteredAt,
		RegisteredBy: s.RegisteredBy, Revoked: s.Revoked, RevokedAt: s.RevokedAt, RevokedBy: s.RevokedBy,
		RevokeReason: s.RevokeReason}
	if s.PublicKey != nil {
		out.PublicKey = strings.ToUpper(hex.EncodeToString(s.PublicKey.Bytes()))
	}
	if out.Emails == nil {
		out.Emails = []string{}
	}
	return out
}

// SMsAnswer is GET /v1/sms.
type SMsAnswer struct {
	SMs []SM `json:"sms"`
}

// RegisterRequest is POST /v1/sms: the module's own VKLOAD.REQ.1 (mail
// body, file of records or one-line record) made for one of this KMC's
// keys, whose tag proves the module holds its key, and what the operator
// adds to it.
type RegisterRequest struct {
	RequestID string `json:"request_id,omitempty"`
	Request   string `json:"request"`
	Variant   string `json:"variant"` // vending or manufacturing
	// Virtual says whether the module is software; absent, the KMC's
	// default (kmc.DefaultVirtual: on a test KMC unless certified).
	Virtual   *bool    `json:"virtual,omitempty"`
	Certified bool     `json:"certified"`
	Emails    []string `json:"emails"`
}

// RevokeSMRequest is POST /v1/sms/{ref}/revoke.
type RevokeSMRequest struct {
	Reason string `json:"reason"`
}

// SetEmailsRequest is PUT /v1/sms/{ref}/emails: the addresses allowed to
// receive the module's Key Load Files, replacing the old ones.
type SetEmailsRequest struct {
	Emails []string `json:"emails"`
}

// KUA is a key-use authorisation.
type KUA struct {
	ID        int64     `json:"id"`
	SMID      string    `json:"smid"`
	SGC       int       `json:"sgc"`
	Types     []string  `json:"types"`
	From      time.Time `json:"from"`
	Until     time.Time `json:"until"`
	GrantedAt time.Time `json:"granted_at"`
	GrantedBy string    `json:"granted_by"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

func kuaOf(a kmc.KUA) KUA {
	return KUA{ID: a.ID, SMID: a.SMID, SGC: a.SGC, Types: listOf(a.Types.List(), kmc.KeyType.String), From: a.From,
		Until: a.Until, GrantedAt: a.GrantedAt, GrantedBy: a.GrantedBy, RevokedAt: a.RevokedAt, RevokedBy: a.RevokedBy}
}

// listOf converts every element of list with conv: an empty list is an
// empty array in JSON, never null.
func listOf[T, A any](list []T, conv func(T) A) []A {
	out := make([]A, 0, len(list))
	for _, v := range list {
		out = append(out, conv(v))
	}
	return out
}

// KUAsAnswer is GET /v1/kuas.
type KUAsAnswer struct {
	KUAs []KUA `json:"kuas"`
}

// GrantRequest is POST /v1/kuas. Until is required; From defaults to now.
type GrantRequest struct {
	RequestID string    `json:"request_id,omitempty"`
	SM        string    `json:"sm"` // full SMID, vendor:id, or id
	SGC       int       `json:"sgc"`
	Types     []string  `json:"types"`
	From      time.Time `json:"from,omitzero"`
	Until     time.Time `json:"until"`
}

// IssueRequest is POST /v1/klfs: a VKLOAD.REQ.1 as it arrived (mail body,
// file of records or one-line record). A request id makes the call
// idempotent across restarts: the same request under the same id gets
// the same file again (kmc.IssueOptions.Ref).
type IssueRequest struct {
	RequestID string `json:"request_id,omitempty"`
	Request   string `json:"request"`
}

// IssuedKey names a vending key of a Key Load File by its KCV.
type IssuedKey struct {
	SGC  int    `json:"sgc"`
	Type string `json:"type"`
	KRN  int    `json:"krn"`
	KCV  string `json:"kcv"`
}

// KLFAnswer is an issued Key Load File.
type KLFAnswer struct {
	SMID        string      `json:"smid"`
	KMCID       string      `json:"kmcid"`
	RequestTime time.Time   `json:"request_time"`
	IssueTime   time.Time   `json:"issue_time"`
	FileName    string      `json:"file_name"`
	File        string      `json:"file"`    // file of records, CRLF
	Records     []string    `json:"records"` // KLF.HDR.1, the VK.1s, KLF.END.1
	Keys        []IssuedKey `json:"keys"`
	Emails      []string    `json:"emails"`
}

func klfOf(k *kmc.KLF) KLFAnswer {
	out := KLFAnswer{SMID: k.SMID.String(), KMCID: k.KMCID.String(), RequestTime: k.RequestTime, IssueTime: k.IssueTime,
		FileName: k.FileName, File: string(k.File), Records: k.Bodies, Keys: []IssuedKey{}, Emails: k.Emails}
	for _, key := range k.Keys {
		out.Keys = append(out.Keys, IssuedKey{SGC: key.SGC, Type: key.Type.String(), KRN: key.KRN, KCV: key.KCV})
	}
	if out.Emails == nil {
		out.Emails = []string{}
	}
	return out
}

// IssuedFile is a Key Load File the KMC issued (GET /v1/klfs).
type IssuedFile struct {
	SMID        string    `json:"smid"`
	KMCID       string    `json:"kmcid"`
	RequestTime time.Time `json:"request_time"`
	IssueTime   time.Time `json:"issue_time"`
	Keys        int       `json:"keys"`
	Ref         string    `json:"ref,omitempty"`
	FileName    string    `json:"file_name"`
}

// IssuedFilesAnswer is GET /v1/klfs.
type IssuedFilesAnswer struct {
	Files []IssuedFile `json:"files"`
}

// AuditAnswer is POST /v1/audit/verify: the audit log's hash chain
// verified. OK is false when the chain is broken, with where and how.
type AuditAnswer struct {
	OK      bool   `json:"ok"`
	LogID   string `json:"log_id"`
	Records int64  `json:"records"`
	Head    string `json:"head"`
	// BrokenAt, Kind and Reason say where and how the chain or the tree
	// broke; Kind is also "bad checkpoint", "rolled back" or "forked" when
	// the log does not extend its latest kept checkpoint (BrokenAt 0).
	BrokenAt int64  `json:"broken_at,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Reason   string `json:"reason,omitempty"`
}
