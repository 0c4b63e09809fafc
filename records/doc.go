// Package records parses, formats and validates the key management records
// of STS 600-4-2 style that a security module (SM) and the key management
// centre (KMC) exchange: the public key identifiers KMCID.1 and SMID.1
// (PKID), the KMC key record PK.ECDH.1, the load request VKLOAD.REQ.1,
// the Key Load File records KLF.HDR.1, VK.1 and KLF.END.1, and the STS
// Association's signed registry update SMREG.HDR.1, SMREG.SM.1 and
// SMREG.END.1 (ParseSMRegUpdate, SignSMRegUpdate).
//
// A record is one line of printable ASCII,
//
//	<type>|<field 1>|…|<field n>|<CRC>
//
// with a CRC-16/MODBUS of everything before it, the last "|" included, as
// four upper-case hex digits; a PKID has the same shape with ":" and its
// own CRC. A record type is a Spec, a list of declared fields (IDENT,
// PKID, timestamp, hex, P-384 public key, decimal, choice); one generic parser
// (Parse, Spec.Parse) and formatter (New, Record.String) work from the
// declarations, and typed views (PKECDH, VKLoadReq, KLFHeader, VK, KLFEnd)
// sit on top.
//
// The normative STS 600-4-2 text is not public. Field order and widths
// follow the two seed records of STS 600-9-2 (§5.1.3.5, §5.1.4.4); where
// the texts are silent — the PKID key hash, the fingerprint, the IDENT
// rule, the Key Load File records — the definitions are our own
// (docs/notes/kms-records.md §3), and interoperability with the STSA
// KMC is not claimed. docs/formats.md gives every record as a grammar,
// marks what comes from the seed and what is ours, and lists the vectors.
//
// An IDENT (vendor, id, SM model, SM firmware) is 1 to 32 characters of
// A-Z a-z 0-9 "-" "_" ".", the first a letter or digit.
//
// Parsing is strict (upper-case hex, exact widths, real dates, canonical
// decimals), so a record that parses formats back to the identical string.
// Failures are *FieldError or *CRCError values wrapping the sentinel
// errors of errors.go; when the only problems are CRC mismatches, Parse
// still returns the record with the error (see Parse and Record.CRCs).
// Parse never checks PKID key hashes: the seed PKIDs use an unpublished
// hash; PKID.CheckKey and Record.CheckKeyHashes apply ours on request.
//
// The cryptography behind the tag, the Key Load File keys and the MAC is in
// package keyagree; the Record-in-Email armour and files of records are in
// records/armor.
//
// This package imports only the standard library.
package records
