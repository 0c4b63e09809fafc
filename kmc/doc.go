// Package kmc is the Key Management Centre: where vending keys are born and
// from where they travel — only inside Key Load Files, only to registered,
// authorised security modules (SM). docs/kmc.md is the operator's view of
// the same model.
//
// A KMC has
//
//   - an identity (vendor and id of its KMCIDs) and a mode, test or live,
//     fixed at [KMC.Setup] and tied to its key custody's own test flag;
//   - P-384 ECDH key pairs in key custody (package keystore), each
//     published as a PK.ECDH.1 with its fingerprint ([FormatPublicKey]);
//     [KMC.RotateKey] makes a new current key while the older ones keep
//     answering requests made for them until their expiry;
//   - supply groups (SGC) and their vending keys (VDDK, VUDK, VCDK and the
//     initialization key of manufacturing modules) with KRN 1–9 cycling,
//     BDT, DKGA, EA, KEN, ACT, EXP, IUT and CLM: generated from crypto/rand
//     or imported as two or more officers' components (dual control), and
//     stored only sealed by the custody, bound to their identity;
//     operators see the KCV, never a key;
//   - a registry of security modules (SMID and public key, model, firmware,
//     variant, virtual, certified, revoked, the e-mail addresses allowed
//     to receive their files) and key-use authorisations (module ↔ supply
//     group, key types, from/until; revocable);
//   - [KMC.IssueKLF]: the checks of a VKLOAD.REQ.1 and the Key Load File
//     answering it, every refusal an [*Error] with a stable [Code] for the
//     gateway to render;
//   - [KMC.ApplyRegistryUpdate]: the STS Association's signed registry
//     update (certified, revoked), all or nothing; [KMC.Prune] drops seen
//     requests too old to matter.
//
// Every change — a key made, imported or retired, a registry change, an
// authorisation, a file issued (which keys, by KCV) — is written to the
// audit log (package audit) in the same store transaction as the change.
//
// # Key custody and the protocol
//
// The KMC's ECDH private keys never leave the custody — a sealed store, or
// a PKCS#11 token with InitOptions.PKCS11 (package keystore/pkcs11) —
// which gives the shared secret Z of ECDH instead. The KMC's half of the protocol of
// docs/formats.md §7 is package keyload's, over Z (keyload.VerifyTag and
// keyload.IssueUnder); every test opens the files it makes with
// keyload.Open, the module's side.
//
// # Trust rules
//
// Vending keys exist in clear only while a file is built or a key is
// generated or imported, are cleared afterwards, and never reach a log, an
// error or the audit log. A live KMC registers no virtual module and issues
// files only to certified ones (STS 600-10-1 §4.5); a vending module never
// receives an initialization key. The database holds only sealed keys and
// can be copied without exposing one.
//
// It imports records, records/armor, keyagree, keyload, keystore, store,
// audit and the standard library; never sts, sm or gateway.
package kmc
