package records

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"time"
)

// The records of an STS Association SM registry update, the content of
// {KMS:SmUpdateStsEd2} (our definition, docs/formats.md §9; notes
// kms-records.md §3.6): SMREG.HDR.1, one SMREG.SM.1 per module with seq
// 1..n_sm, then SMREG.END.1 with the STSA's ECDSA P-384 signature over all
// the records before it (SignedData).
var (
	// SMRegHeaderSpec is SMREG.HDR.1, the first record of a registry
	// update: the STSA key that signed it (STSAKeyID), when it was made,
	// its sequence number (each update's greater than the last) and the
	// number of SMREG.SM.1 records:
	//
	//	SMREG.HDR.1|stsa_key|t_issue|update_seq|n_sm|CRC
	SMRegHeaderSpec = mustSpec("SMREG.HDR.1",
		HexField("stsa_key", 8, 8),
		TimeField("t_issue"),
		DecimalField("update_seq", 0, 1, MaxSMRegSeq),
		DecimalField("n_sm", 0, 1, MaxSMRegRecords),
	)
	// SMRegSMSpec is SMREG.SM.1, one security module as the STS
	// Association lists it. The SMID's key hash names public_key:
	//
	//	SMREG.SM.1|seq|smid|public_key|model|firmware|variant|certified|revoked|CRC
	SMRegSMSpec = mustSpec("SMREG.SM.1",
		DecimalField("seq", 0, 1, MaxSMRegRecords),
		PKIDField("smid", SMID, "public_key"),
		PublicKeyField("public_key"),
		IdentField("model", 1, MaxIdent),
		IdentField("firmware", 8, 8),
		ChoiceField("variant", "vending", "manufacturing"),
		ChoiceField("certified", "Y", "N"),
		ChoiceField("revoked", "Y", "N"),
	)
	// SMRegEndSpec is SMREG.END.1, the last record of a registry update:
	// the number of SMREG.SM.1 records and the signature, r‖s of 48 bytes
	// each:
	//
	//	SMREG.END.1|n_sm|signature|CRC
	SMRegEndSpec = mustSpec("SMREG.END.1",
		DecimalField("n_sm", 0, 1, MaxSMRegRecords),
		HexField("signature", SignatureSize, SignatureSize),
	)
)

const (
	// MaxSMRegRecords is the most SMREG.SM.1 records one update may hold.
	MaxSMRegRecords = 9999
	// MaxSMRegSeq is the largest update sequence number (12 digits).
	MaxSMRegSeq = 999999999999
	// SignatureSize is the length in bytes of an SMREG.END.1 signature:
	// the ECDSA P-384 values r and s, 48 big-endian bytes each.
	SignatureSize = 96
)

// Errors of a registry update as a whole (see UpdateError).
var (
	// ErrStructure: the records of an update are not SMREG.HDR.1, n_sm
	// SMREG.SM.1 with seq 1..n_sm, SMREG.END.1 — one missing, out of
	// place, numbered out of order, or the counts disagree.
	ErrStructure = errors.New("records: registry update out of structure")
	// ErrDuplicate: two SMREG.SM.1 records of one update name the same
	// module (SMID vendor and id).
	ErrDuplicate = errors.New("records: module listed twice")
	// ErrSignature: the SMREG.END.1 signature does not verify under the
	// given STSA key, or the update names another key.
	ErrSignature = errors.New("records: signature does not verify")
)

// UpdateError is a fault of a registry update: which record (1-based
// position in the file, 0 for the update as a whole) and what. Err is a
// *FieldError, a *CRCError, or one of ErrStructure, ErrDuplicate,
// ErrSignature (possibly wrapped); errors.Is and errors.As see through it.
type UpdateError struct {
	// Index is the record's position in the update, from 1; 0 means the
	// update as a whole.
	Index int
	// Err is what is wrong.
	Err error
}

// Error returns e.g. "records: registry update record 7: records:
// SMREG.SM.1 field smid.kh: key hash does not match the public key: …".
func (e *UpdateError) Error() string {
	if e.Index == 0 {
		return "records: registry update: " + e.Err.Error()
	}
	return "records: registry update record " + strconv.Itoa(e.Index) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *UpdateError) Unwrap() error { return e.Err }

func updateErr(index int, err error, format string, args ...any) *UpdateError {
	if format != "" {
		err = fmt.Errorf("%w: "+format, append([]any{err}, args...)...)
	}
	return &UpdateError{Index: index, Err: err}
}

// SMRegModule is one SMREG.SM.1 record: a security module as the STS
// Association lists it.
type SMRegModule struct {
	// Seq is the record's position among the update's modules, from 1.
	Seq int
	// SMID names the module's static ECDH key, PublicKey; its vendor is
	// the module's manufacturer.
	SMID PKID
	// PublicKey is the module's static P-384 ECDH key.
	PublicKey *ecdh.PublicKey
	// Model is an IDENT of 1 to 32 characters, Firmware one of exactly 8,
	// as the module's VKLOAD.REQ.1 gives them.
	Model, Firmware string
	// Variant is "vending" or "manufacturing".
	Variant string
	// Certified: a hardware module the STS Association attests.
	Certified bool
	// Revoked: the STS Association withdrew the module.
	Revoked bool
}

// yn prints a flag as Y or N.
func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// ParseSMRegModule parses a one-line SMREG.SM.1 body (see Parse).
func ParseSMRegModule(line string) (*SMRegModule, error) {
	r, err := SMRegSMSpec.Parse(line)
	if r == nil {
		return nil, err
	}
	m := &SMRegModule{Seq: uintField(r, "seq")}
	m.SMID, _ = r.PKID("smid")
	m.PublicKey, _ = r.PublicKey("public_key")
	m.Model, _ = r.Text("model")
	m.Firmware, _ = r.Text("firmware")
	m.Variant, _ = r.Text("variant")
	cert, _ := r.Text("certified")
	rev, _ := r.Text("revoked")
	m.Certified, m.Revoked = cert == "Y", rev == "Y"
	return m, err
}

// Record builds the generic record, computing its CRCs.
func (m *SMRegModule) Record() (*Record, error) {
	return New(SMRegSMSpec, m.Seq, m.SMID, m.PublicKey, m.Model, m.Firmware, m.Variant, yn(m.Certified), yn(m.Revoked))
}

// Format returns the one-line body.
func (m *SMRegModule) Format() (string, error) { return format(m.Record()) }

// CheckKeyHash checks that the SMID's key hash names PublicKey under our
// convention (see Record.CheckKeyHashes).
func (m *SMRegModule) CheckKeyHash() error {
	return inRecord(SMRegSMSpec, "smid", m.SMID.CheckKey(m.PublicKey))
}

// SMRegUpdate is a parsed STS Association registry update.
type SMRegUpdate struct {
	// STSAKey names the key that signed the update (STSAKeyID).
	STSAKey Hash64
	// IssueTime is when the STS Association made the update.
	IssueTime time.Time
	// Seq is the update's sequence number: a KMC applies only updates
	// whose Seq is greater than that of the last one it applied.
	Seq uint64
	// Modules are the SMREG.SM.1 records in file order.
	Modules []SMRegModule
	// Signature is r‖s from SMREG.END.1.
	Signature []byte
	// Bodies are the one-line records as parsed, SMREG.END.1 last.
	Bodies []string
}

// ParseSMRegUpdate parses the one-line records of a registry update, in
// file order (as armor.ParseFile returns them): SMREG.HDR.1, n_sm
// SMREG.SM.1 with seq 1..n_sm, SMREG.END.1 with the same n_sm. Every record
// must parse with every CRC right, every SMID's key hash must name its
// public key, and no module may be listed twice. It does not verify the
// signature (Verify). Every failure is an *UpdateError naming the record.
func ParseSMRegUpdate(bodies []string) (*SMRegUpdate, error) {
	if len(bodies) < 3 {
		return nil, updateErr(0, ErrStructure, "%d records, want SMREG.HDR.1, at least one SMREG.SM.1 and SMREG.END.1", len(bodies))
	}
	if len(bodies)-2 > MaxSMRegRecords {
		return nil, updateErr(0, ErrStructure, "%d SMREG.SM.1 records, limit %d", len(bodies)-2, MaxSMRegRecords)
	}
	u := &SMRegUpdate{Bodies: bodies, Modules: make([]SMRegModule, 0, len(bodies)-2)}
	r, err := SMRegHeaderSpec.Parse(bodies[0])
	if err != nil {
		return nil, updateErr(1, err, "")
	}
	key, _ := r.Bytes("stsa_key")
	u.STSAKey = Hash64(key)
	u.IssueTime, _ = r.Time("t_issue")
	u.Seq, _ = r.Uint("update_seq")
	if n := uintField(r, "n_sm"); n != len(bodies)-2 {
		return nil, updateErr(1, ErrStructure, "n_sm %d, but %d records between SMREG.HDR.1 and SMREG.END.1", n, len(bodies)-2)
	}
	seen := make(map[string]int, len(bodies)-2)
	for i, body := range bodies[1 : len(bodies)-1] {
		m, err := parseUpdateModule(body, i+2, seen)
		if err != nil {
			return nil, err
		}
		u.Modules = append(u.Modules, *m)
	}
	last := len(bodies)
	end, err := SMRegEndSpec.Parse(bodies[last-1])
	if err != nil {
		return nil, updateErr(last, err, "")
	}
	if n := uintField(end, "n_sm"); n != len(u.Modules) {
		return nil, updateErr(last, ErrStructure, "n_sm %d, want %d", n, len(u.Modules))
	}
	u.Signature, _ = end.Bytes("signature")
	return u, nil
}

// parseUpdateModule parses the SMREG.SM.1 at 1-based position index of an
// update; seen maps each module already listed to its position.
func parseUpdateModule(body string, index int, seen map[string]int) (*SMRegModule, error) {
	m, err := ParseSMRegModule(body)
	if err != nil {
		return nil, updateErr(index, err, "")
	}
	if m.Seq != index-1 {
		return nil, updateErr(index, ErrStructure, "seq %d, want %d", m.Seq, index-1)
	}
	if err := m.CheckKeyHash(); err != nil {
		return nil, updateErr(index, err, "")
	}
	ref := m.SMID.Vendor + ":" + m.SMID.ID
	if first, dup := seen[ref]; dup {
		return nil, updateErr(index, ErrDuplicate, "%s, listed first in record %d", ref, first)
	}
	seen[ref] = index
	return m, nil
}

// SignedData returns what the SMREG.END.1 signature is made over: every
// record before SMREG.END.1, each one-line body followed by CRLF, in file
// order. The signature is ECDSA P-384 over the SHA-384 of these bytes.
func SignedData(bodies []string) []byte {
	n := 0
	for _, b := range bodies {
		n += len(b) + 2
	}
	out := make([]byte, 0, n)
	for _, b := range bodies {
		out = append(out, b...)
		out = append(out, '\r', '\n')
	}
	return out
}

// STSAKeyID returns the name of an STS Association signing key, as
// SMREG.HDR.1 carries it: the first 8 bytes of SHA-256 over the 97-byte
// uncompressed point (the same convention as a PKID's key hash, KeyHash).
// The key must be on P-384.
func STSAKeyID(pub *ecdsa.PublicKey) (Hash64, error) {
	if pub == nil || pub.Curve != elliptic.P384() {
		return Hash64{}, &FieldError{Record: SMRegHeaderSpec.typ, Field: "stsa_key", Err: ErrPoint, Detail: "not a P-384 key"}
	}
	point, err := pub.Bytes()
	if err != nil {
		return Hash64{}, &FieldError{Record: SMRegHeaderSpec.typ, Field: "stsa_key", Err: ErrPoint, Detail: "not a valid point"}
	}
	return KeyHash(point), nil
}

// Verify checks the update's signature with pub, which must be the key the
// update names (STSAKey). The error is an *UpdateError wrapping
// ErrSignature.
func (u *SMRegUpdate) Verify(pub *ecdsa.PublicKey) error {
	id, err := STSAKeyID(pub)
	if err != nil {
		return updateErr(0, ErrSignature, "%v", err)
	}
	if id != u.STSAKey {
		return updateErr(0, ErrSignature, "update signed by STSA key %s, verifying with %s", u.STSAKey, id)
	}
	if len(u.Signature) != SignatureSize || len(u.Bodies) < 3 {
		return updateErr(0, ErrSignature, "no signature")
	}
	digest := sha512.Sum384(SignedData(u.Bodies[:len(u.Bodies)-1]))
	r := new(big.Int).SetBytes(u.Signature[:SignatureSize/2])
	s := new(big.Int).SetBytes(u.Signature[SignatureSize/2:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return updateErr(len(u.Bodies), ErrSignature, "")
	}
	return nil
}

// SignSMRegUpdate makes a signed registry update: the header for priv's
// key, seq and issued, the modules in order (their Seq fields are set to
// 1..n), and SMREG.END.1 with the signature. random is the source of the
// ECDSA nonce; nil signs deterministically (RFC 6979), which is what the
// vectors use. It returns the one-line records in file order (armor.File
// makes the file).
func SignSMRegUpdate(priv *ecdsa.PrivateKey, seq uint64, issued time.Time, modules []SMRegModule, random io.Reader) ([]string, error) {
	if priv == nil {
		return nil, updateErr(0, ErrSignature, "no key")
	}
	id, err := STSAKeyID(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	if len(modules) == 0 || len(modules) > MaxSMRegRecords {
		return nil, updateErr(0, ErrStructure, "%d modules, want 1..%d", len(modules), MaxSMRegRecords)
	}
	hdr, err := New(SMRegHeaderSpec, id[:], issued, seq, len(modules))
	if err != nil {
		return nil, updateErr(1, err, "")
	}
	bodies := []string{hdr.String()}
	for i := range modules {
		m := modules[i]
		m.Seq = i + 1
		body, err := m.Format()
		if err != nil {
			return nil, updateErr(i+2, err, "")
		}
		bodies = append(bodies, body)
	}
	sig, err := signP1363(priv, SignedData(bodies), random)
	if err != nil {
		return nil, err
	}
	end, err := New(SMRegEndSpec, len(modules), sig)
	if err != nil {
		return nil, updateErr(len(bodies)+1, err, "")
	}
	bodies = append(bodies, end.String())
	if _, err := ParseSMRegUpdate(bodies); err != nil {
		return nil, err
	}
	return bodies, nil
}

// signP1363 signs SHA-384(data) and returns r‖s, 48 bytes each.
func signP1363(priv *ecdsa.PrivateKey, data []byte, random io.Reader) ([]byte, error) {
	digest := sha512.Sum384(data)
	der, err := priv.Sign(random, digest[:], crypto.SHA384)
	if err != nil {
		return nil, updateErr(0, ErrSignature, "signing failed")
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
		return nil, updateErr(0, ErrSignature, "signing failed")
	}
	out := make([]byte, SignatureSize)
	rs.R.FillBytes(out[:SignatureSize/2])
	rs.S.FillBytes(out[SignatureSize/2:])
	return out, nil
}
