// Package keyload is the key-loading protocol between a security module
// (SM) and the Key Management Centre (KMC), as docs/formats.md defines it
// after kms-records.md §3.4–3.5: the SM's VKLOAD.REQ.1 with its tag, the
// KMC's check of it, the Key Load File the KMC issues (KLF.HDR.1, one VK.1
// per vending key, KLF.END.1), and the SM's all-or-nothing opening of that
// file. It joins the record formats (package records) with the
// cryptography (package keyagree); registration, authorisation and replay
// memory belong to the KMC and the SM, not here.
package keyload

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"time"

	"github.com/stskms/stskms/keyagree"
	"github.com/stskms/stskms/records"
)

// Errors of the protocol, wrapped with detail. Cryptographic failures wrap
// keyagree.ErrTagMismatch, keyagree.ErrMACMismatch or keyagree.ErrUnwrap.
var (
	// ErrKMCKeyExpired: the KMC key (PK.ECDH.1) is past its expiry.
	ErrKMCKeyExpired = errors.New("keyload: KMC key expired")
	// ErrWrongKMC: the record names another KMC key.
	ErrWrongKMC = errors.New("keyload: record is for another KMC key")
	// ErrWrongSM: the record names another security module, or its SMID
	// does not name its public key.
	ErrWrongSM = errors.New("keyload: record is for another security module")
	// ErrStale: the request time is outside the accepted window.
	ErrStale = errors.New("keyload: request time outside the accepted window")
	// ErrNotPending: the Key Load File answers another request than the
	// one the SM has pending.
	ErrNotPending = errors.New("keyload: Key Load File answers another request")
	// ErrStructure: records missing, out of order, miscounted or of the
	// wrong type.
	ErrStructure = errors.New("keyload: malformed Key Load File")
	// ErrKCV: a vending key does not match its key check value.
	ErrKCV = errors.New("keyload: key check value mismatch")
)

// Module is one side's own identity: its static ECDH key and the PKID
// that names it (an SMID for a security module, a KMCID for the KMC).
type Module struct {
	Key  *ecdh.PrivateKey
	PKID records.PKID
}

func (m Module) check(wrong error) error {
	if m.Key == nil {
		return fmt.Errorf("%w: no private key", wrong)
	}
	if err := m.PKID.CheckKey(m.Key.PublicKey()); err != nil {
		return fmt.Errorf("%w: %w", wrong, err)
	}
	return nil
}

// NewRequest makes the SM's VKLOAD.REQ.1 for a KMC key at time at: the
// request names both keys and carries a tag that only the holder of the
// SM's private key can compute (kms-records.md §3.4).
func NewRequest(sm Module, kmc *records.PKECDH, at time.Time, model, firmware string) (*records.VKLoadReq, error) {
	if err := sm.check(ErrWrongSM); err != nil {
		return nil, err
	}
	if err := checkKMCKey(kmc, at); err != nil {
		return nil, err
	}
	req := &records.VKLoadReq{
		SMID: sm.PKID, KMCID: kmc.KMCID, Time: at.UTC().Truncate(time.Second),
		Model: model, Firmware: firmware, PublicKey: sm.Key.PublicKey(),
	}
	z, err := keyagree.SharedSecret(sm.Key, kmc.PublicKey)
	if err != nil {
		return nil, err
	}
	defer clear(z)
	if err := SignRequest(z, req); err != nil {
		return nil, err
	}
	return req, nil
}

// SignRequest sets the tag of a request from Z, the shared secret of the
// SM's key and the KMC's: for an SM whose private key stays in custody,
// which computes Z (NewRequest does the rest for a key in memory).
func SignRequest(z []byte, req *records.VKLoadReq) error {
	kReq, signed, err := tagInputs(z, req)
	if err != nil {
		return err
	}
	defer clear(kReq)
	req.Tag, err = keyagree.RequestTag(kReq, signed)
	return err
}

// VerifyTag checks a request's tag under Z in constant time
// (keyagree.ErrTagMismatch if wrong): VerifyRequest's last step, for a KMC
// whose private key stays in custody.
func VerifyTag(z []byte, req *records.VKLoadReq) error {
	kReq, signed, err := tagInputs(z, req)
	if err != nil {
		return err
	}
	defer clear(kReq)
	return keyagree.VerifyRequestTag(kReq, signed, req.Tag)
}

// checkKMCKey checks that a PK.ECDH.1 names its key and is not expired.
func checkKMCKey(kmc *records.PKECDH, at time.Time) error {
	if err := kmc.CheckKeyHash(); err != nil {
		return fmt.Errorf("%w: %w", ErrWrongKMC, err)
	}
	if !at.Before(kmc.Expiry) {
		return fmt.Errorf("%w: %s expired %s", ErrKMCKeyExpired, kmc.KMCID, kmc.Expiry.Format(records.TimeLayout))
	}
	return nil
}

// tagInputs returns what a request's tag is computed from: K_req, derived
// from Z and the request's names and time (the caller clears it), and the
// text the tag covers.
func tagInputs(z []byte, req *records.VKLoadReq) (kReq []byte, signed string, err error) {
	kReq, err = keyagree.RequestKey(z, req.Time.Format(records.TimeLayout), req.SMID.String(), req.KMCID.String())
	if err != nil {
		return nil, "", err
	}
	if signed, err = req.TagInput(); err != nil {
		clear(kReq)
		return nil, "", err
	}
	return kReq, signed, nil
}

// VerifyRequest is the KMC's check of a parsed VKLOAD.REQ.1 (whose CRCs
// the parser verified): the request is for the KMC's own key, its SMID
// names its public key, its time is within window of now, and its tag is
// right (compared in constant time). Whether the SM is registered,
// authorised and the request not replayed is the KMC's next question.
func VerifyRequest(kmc Module, req *records.VKLoadReq, now time.Time, window time.Duration) error {
	if err := kmc.check(ErrWrongKMC); err != nil {
		return err
	}
	if !samePKID(req.KMCID, kmc.PKID) {
		return fmt.Errorf("%w: request names %s", ErrWrongKMC, req.KMCID)
	}
	if err := req.CheckKeyHash(); err != nil {
		return fmt.Errorf("%w: %w", ErrWrongSM, err)
	}
	if d := now.Sub(req.Time); d > window || d < -window {
		return fmt.Errorf("%w: made %s, now %s", ErrStale, req.Time.Format(records.TimeLayout), now.UTC().Format(records.TimeLayout))
	}
	z, err := keyagree.SharedSecret(kmc.Key, req.PublicKey)
	if err != nil {
		return err
	}
	defer clear(z)
	return VerifyTag(z, req)
}

// samePKID compares two PKIDs by their text, which is what the records
// carry.
func samePKID(a, b records.PKID) bool { return a.String() == b.String() }
