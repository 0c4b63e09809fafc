package keyagree

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha512"
)

// Sizes of the request values, in bytes.
const (
	// RequestKeySize is the length of K_req.
	RequestKeySize = 48
	// TagSize is the length of the VKLOAD.REQ.1 TAG (48 hex digits): a
	// truncated HMAC-SHA-384.
	TagSize = 24
)

// Label prefixes of the HKDF info strings (kms-records.md §3.4, §3.5).
const (
	requestInfoPrefix = "STS-VKLOAD-REQ.1|"
	klfInfoPrefix     = "STS-KLF.1|"
)

// RequestKey derives K_req, the 48-byte key of the VKLOAD.REQ.1 tag
// (kms-records.md §3.4):
//
//	K_req = HKDF-SHA-384(salt = ASCII(t_req), IKM = Z,
//	                     info = "STS-VKLOAD-REQ.1|" + SMID + "|" + KMCID + "|", L = 48)
//
// z is the 48-byte shared secret (ErrLength otherwise). tReq is the request
// time as it appears in the record (YYYYMMDDTHHMMSSZ); smid and kmcid are
// the full PKID texts, CRC included. All three must be non-empty printable
// ASCII without "|" (ErrField). The caller should clear K_req after use.
func RequestKey(z []byte, tReq, smid, kmcid string) ([]byte, error) {
	if err := checkLen("Z", z, SharedSecretSize); err != nil {
		return nil, err
	}
	if err := checkIDs(smid, kmcid, tReq); err != nil {
		return nil, err
	}
	info := requestInfoPrefix + smid + "|" + kmcid + "|"
	return hkdf.Key(sha512.New384, z, []byte(tReq), info, RequestKeySize)
}

// RequestTag returns the 24-byte TAG of a VKLOAD.REQ.1 (kms-records.md
// §3.4): the first 24 bytes of HMAC-SHA-384(K_req, ASCII(signed)), where
// signed is the record from "VKLOAD.REQ.1|" up to and including the "|"
// before the TAG field. The record carries the tag in upper-case hex.
//
// kReq must be RequestKeySize bytes (ErrLength); signed must be printable
// ASCII ending with "|" (ErrField).
func RequestTag(kReq []byte, signed string) ([]byte, error) {
	if err := checkLen("K_req", kReq, RequestKeySize); err != nil {
		return nil, err
	}
	if err := checkText("signed request text", signed, false, true); err != nil {
		return nil, err
	}
	return truncatedHMAC(kReq, signed), nil
}

// VerifyRequestTag checks the TAG of a VKLOAD.REQ.1 in constant time. It
// returns nil if tag equals RequestTag(kReq, signed), ErrTagMismatch if it
// does not (a tag of the wrong length included), and ErrLength or ErrField
// for a bad kReq or signed text as RequestTag does.
func VerifyRequestTag(kReq []byte, signed string, tag []byte) error {
	want, err := RequestTag(kReq, signed)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, tag) {
		return ErrTagMismatch
	}
	return nil
}

// truncatedHMAC is the first TagSize bytes of HMAC-SHA-384(key, msg), the
// form of both the request tag and the KLF closing MAC.
func truncatedHMAC(key []byte, msg string) []byte {
	m := hmac.New(sha512.New384, key)
	m.Write([]byte(msg))
	return m.Sum(nil)[:TagSize]
}
