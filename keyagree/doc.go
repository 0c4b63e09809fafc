// Package keyagree is the cryptography behind the KMS records: the static
// P-384 ECDH key agreement between a security module (SM) and the key
// management centre (KMC), the tag of a VKLOAD.REQ.1 request, the keys of a
// Key Load File (KLF), the AES-256-GCM wrap of each vending key in a VK.1
// record, the closing MAC of KLF.END.1 and vending key check values (KCV).
//
// The scheme is our own definition, written down in
// docs/notes/kms-records.md §3.3–§3.5 with the known-answer vectors of
// §3.7 (kms-vectors.py). It keeps the field shapes of the seed records but
// is not published by the STS Association, and interoperability with the
// STSA KMC is not claimed.
//
// In short, with Z the 48-byte x-coordinate of ECDH(d_sm, Q_kmc):
//
//	K_req = HKDF-SHA-384(salt = t_req, IKM = Z,
//	                     info = "STS-VKLOAD-REQ.1|" + SMID + "|" + KMCID + "|", L = 48)
//	TAG   = HMAC-SHA-384(K_req, request body through the "|" before TAG)[0:24]
//	OKM   = HKDF-SHA-384(salt = NONCE, IKM = Z,
//	                     info = "STS-KLF.1|" + SMID + "|" + KMCID + "|" + t_req + "|", L = 80)
//	KEK   = OKM[0:32], K_mac = OKM[32:80]
//	CT    = AES-256-GCM(KEK, IV, VK, AAD = VK.1 record through the "|" before IV)
//	MAC   = HMAC-SHA-384(K_mac, record_1 + "\n" + … + record_n + "\n")[0:24]
//
// The package works on byte strings and on record text given by the caller;
// formatting and parsing records (fields, hex, CRC-16/MODBUS) is the job of
// package records. Record text passed here must be printable ASCII.
//
// Errors wrap the sentinels of errors.go with detail (which argument, which
// length) but never with key material, and every check of a tag or MAC is
// constant-time. Callers should clear Z and K_req (with clear) once done and
// call [KLFKeys.Zero] when a KLF has been built or loaded.
//
// This package imports only the standard library.
package keyagree
