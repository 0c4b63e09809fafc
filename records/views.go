package records

import (
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"time"
)

// The typed views below are conveniences over the generic engine: ParseX
// is Spec.Parse plus field access, Record is New with the view's fields.
// Like Parse, each ParseX returns the view together with the error when the
// only problems are CRC mismatches.

// PKECDH is a PK.ECDH.1 record: the KMC's static P-384 ECDH public key,
// named by its KMCID, and the time after which SMs refuse it.
type PKECDH struct {
	// KMCID names the key; under our convention its key hash is
	// KeyHash(PublicKey.Bytes()).
	KMCID PKID
	// PublicKey is the KMC's static ECDH key.
	PublicKey *ecdh.PublicKey
	// Expiry is when the key expires (UTC).
	Expiry time.Time
}

// ParsePKECDH parses a one-line PK.ECDH.1 body (see Parse).
func ParsePKECDH(line string) (*PKECDH, error) {
	r, err := PKECDHSpec.Parse(line)
	if r == nil {
		return nil, err
	}
	p := &PKECDH{}
	p.KMCID, _ = r.PKID("kmcid")
	p.PublicKey, _ = r.PublicKey("public_key")
	p.Expiry, _ = r.Time("expiry")
	return p, err
}

// Record builds the generic record, computing its CRCs.
func (p *PKECDH) Record() (*Record, error) {
	return New(PKECDHSpec, p.KMCID, p.PublicKey, p.Expiry)
}

// Format returns the one-line body.
func (p *PKECDH) Format() (string, error) { return format(p.Record()) }

// Fingerprint returns the fingerprint of the formatted record (notes
// kms-records.md §3.3, our convention), to publish out of band.
func (p *PKECDH) Fingerprint() (Hash64, error) {
	r, err := p.Record()
	if err != nil {
		return Hash64{}, err
	}
	return r.Fingerprint(), nil
}

// CheckKeyHash checks that the KMCID's key hash names PublicKey under our
// convention (see Record.CheckKeyHashes).
func (p *PKECDH) CheckKeyHash() error {
	return inRecord(PKECDHSpec, "kmcid", p.KMCID.CheckKey(p.PublicKey))
}

// VKLoadReq is a VKLOAD.REQ.1 record: a security module asks the KMC for a
// Key Load File.
type VKLoadReq struct {
	// SMID names the SM's static ECDH key, PublicKey.
	SMID PKID
	// KMCID names the KMC key the request is made for.
	KMCID PKID
	// Time is t_req, when the request was made (UTC).
	Time time.Time
	// Model is the SM model, an IDENT ("Prism-TSM250-1").
	Model string
	// Firmware is the SM firmware, an IDENT of 8 characters ("STS65V10").
	Firmware string
	// PublicKey is the SM's static ECDH key (PUBKEY_sm).
	PublicKey *ecdh.PublicKey
	// Tag is the 24-byte request tag (package keyagree computes it).
	Tag []byte
}

// TagSize is the length in bytes of the VKLOAD.REQ.1 tag.
const TagSize = 24

// ParseVKLoadReq parses a one-line VKLOAD.REQ.1 body (see Parse).
func ParseVKLoadReq(line string) (*VKLoadReq, error) {
	r, err := VKLoadReqSpec.Parse(line)
	if r == nil {
		return nil, err
	}
	q := &VKLoadReq{}
	q.SMID, _ = r.PKID("smid")
	q.KMCID, _ = r.PKID("kmcid")
	q.Time, _ = r.Time("t_req")
	q.Model, _ = r.Text("sm_model")
	q.Firmware, _ = r.Text("sm_firmware")
	q.PublicKey, _ = r.PublicKey("public_key")
	q.Tag, _ = r.Bytes("tag")
	return q, err
}

// Record builds the generic record, computing its CRCs.
func (q *VKLoadReq) Record() (*Record, error) {
	return New(VKLoadReqSpec, q.SMID, q.KMCID, q.Time, q.Model, q.Firmware, q.PublicKey, q.Tag)
}

// Format returns the one-line body.
func (q *VKLoadReq) Format() (string, error) { return format(q.Record()) }

// TagInput returns the text the tag is computed over: the record up to and
// including the "|" before the tag (notes kms-records.md §3.4). Tag itself
// may still be empty.
func (q *VKLoadReq) TagInput() (string, error) {
	c := *q
	if len(c.Tag) == 0 {
		c.Tag = make([]byte, TagSize)
	}
	return prefixOf(&c, "tag")
}

// CheckKeyHash checks that the SMID's key hash names PublicKey under our
// convention (see Record.CheckKeyHashes).
func (q *VKLoadReq) CheckKeyHash() error {
	return inRecord(VKLoadReqSpec, "smid", q.SMID.CheckKey(q.PublicKey))
}

// KLFHeader is a KLF.HDR.1 record, the first record of a Key Load File
// (our definition, notes kms-records.md §3.5).
type KLFHeader struct {
	// SMID and KMCID are copied from the request.
	SMID, KMCID PKID
	// RequestTime is the request's t_req, echoed.
	RequestTime time.Time
	// IssueTime is when the KMC issued the file.
	IssueTime time.Time
	// Nonce is the 32-byte HKDF salt of the file's keys.
	Nonce []byte
	// Count is the number of VK.1 records that follow (1..MaxVKRecords).
	Count int
}

// ParseKLFHeader parses a one-line KLF.HDR.1 body (see Parse).
func ParseKLFHeader(line string) (*KLFHeader, error) {
	r, err := KLFHeaderSpec.Parse(line)
	if r == nil {
		return nil, err
	}
	h := &KLFHeader{}
	h.SMID, _ = r.PKID("smid")
	h.KMCID, _ = r.PKID("kmcid")
	h.RequestTime, _ = r.Time("t_req")
	h.IssueTime, _ = r.Time("t_issue")
	h.Nonce, _ = r.Bytes("nonce")
	h.Count = uintField(r, "n_vk")
	return h, err
}

// Record builds the generic record, computing its CRCs.
func (h *KLFHeader) Record() (*Record, error) {
	return New(KLFHeaderSpec, h.SMID, h.KMCID, h.RequestTime, h.IssueTime, h.Nonce, h.Count)
}

// Format returns the one-line body.
func (h *KLFHeader) Format() (string, error) { return format(h.Record()) }

// VK is a VK.1 record: one vending key wrapped for one SM, with its
// attributes (our definition, notes kms-records.md §3.5).
type VK struct {
	// Seq is the record's position in the file, 1..MaxVKRecords.
	Seq int
	// SGC is the supply group code, 6 digits.
	SGC int
	// KRN is the key revision number, 1..9.
	KRN int
	// KT is the key type: 0 initialization, 1 VDDK, 2 VUDK, 3 VCDK.
	KT int
	// BDT is the base date year: 1993, 2014 or 2035.
	BDT int
	// DKGA is the decoder key generation algorithm, 1..4 (printed 01..04).
	DKGA int
	// EA is the encryption algorithm: 7, 9 or 11 (printed 07, 09, 11).
	EA int
	// KEN is the key expiry number, 0..255.
	KEN int
	// ACT is the activation time; the SM refuses the key before it.
	ACT time.Time
	// IUT is the issue-until time; the SM refuses the key after it.
	IUT time.Time
	// CLM is the credit limit (printed as 8 hex digits; FFFFFFFF in the
	// vectors).
	CLM uint32
	// KCV is the 3-byte key check value.
	KCV []byte
	// IV is the 12-byte AES-GCM nonce.
	IV []byte
	// Ciphertext is the AES-256-GCM ciphertext and 16-byte tag of the
	// vending key (24 to 48 bytes).
	Ciphertext []byte
}

// ParseVK parses a one-line VK.1 body (see Parse).
func ParseVK(line string) (*VK, error) {
	r, err := VKSpec.Parse(line)
	if r == nil {
		return nil, err
	}
	k := &VK{
		Seq: uintField(r, "seq"), SGC: uintField(r, "sgc"), KRN: uintField(r, "krn"), KT: uintField(r, "kt"),
		BDT: uintField(r, "bdt"), DKGA: uintField(r, "dkga"), EA: uintField(r, "ea"), KEN: uintField(r, "ken"),
	}
	k.ACT, _ = r.Time("act")
	k.IUT, _ = r.Time("iut")
	clm, _ := r.Bytes("clm")
	k.CLM = binary.BigEndian.Uint32(clm)
	k.KCV, _ = r.Bytes("kcv")
	k.IV, _ = r.Bytes("iv")
	k.Ciphertext, _ = r.Bytes("ct")
	return k, err
}

// Record builds the generic record, computing its CRC.
func (k *VK) Record() (*Record, error) {
	return New(VKSpec, k.Seq, k.SGC, k.KRN, k.KT, k.BDT, k.DKGA, k.EA, k.KEN, k.ACT, k.IUT,
		binary.BigEndian.AppendUint32(nil, k.CLM), k.KCV, k.IV, k.Ciphertext)
}

// Format returns the one-line body.
func (k *VK) Format() (string, error) { return format(k.Record()) }

// AAD returns the AES-GCM additional data of the record: the record up to
// and including the "|" before the IV (notes kms-records.md §3.5). IV and
// Ciphertext may still be empty.
func (k *VK) AAD() (string, error) {
	c := *k
	if len(c.IV) == 0 {
		c.IV = make([]byte, 12)
	}
	if len(c.Ciphertext) == 0 {
		c.Ciphertext = make([]byte, 8+16)
	}
	return prefixOf(&c, "iv")
}

// KLFEnd is a KLF.END.1 record, the last record of a Key Load File (our
// definition, notes kms-records.md §3.5).
type KLFEnd struct {
	// Count is the number of VK.1 records in the file.
	Count int
	// MAC is the 24-byte MAC over every preceding record.
	MAC []byte
}

// ParseKLFEnd parses a one-line KLF.END.1 body (see Parse).
func ParseKLFEnd(line string) (*KLFEnd, error) {
	r, err := KLFEndSpec.Parse(line)
	if r == nil {
		return nil, err
	}
	e := &KLFEnd{Count: uintField(r, "n_vk")}
	e.MAC, _ = r.Bytes("mac")
	return e, err
}

// Record builds the generic record, computing its CRC.
func (e *KLFEnd) Record() (*Record, error) { return New(KLFEndSpec, e.Count, e.MAC) }

// Format returns the one-line body.
func (e *KLFEnd) Format() (string, error) { return format(e.Record()) }

func format(r *Record, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// prefixOf returns the Prefix of v's record before the named field.
func prefixOf(v interface{ Record() (*Record, error) }, name string) (string, error) {
	r, err := v.Record()
	if err != nil {
		return "", err
	}
	s, _ := r.Prefix(name)
	return s, nil
}

// uintField returns a decimal field the spec bounds to well within int.
func uintField(r *Record, name string) int {
	n, _ := r.Uint(name)
	return int(n)
}

// inRecord names the record and PKID field in an error of PKID.CheckKey.
func inRecord(s *Spec, field string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		fe.Record, fe.Field = s.typ, field+"."+fe.Field
	}
	return err
}
