// Package sm is the software security module (SM) of stskms: the one place
// where vending keys are held and STS tokens are made, with the logical
// behaviour STS 600-10-1 §4 asks of a certified hardware module, in one of
// its two variants, fixed at Init: Vending or Manufacturing.
//
// A module lives in a directory: its key custody (package keystore: the
// module's P-384 ECDH key pair and the storage key that seals every
// vending key; a sealed store by default, or non-extractable objects in a
// PKCS#11 token with Options.PKCS11, package keystore/pkcs11), DIR/sm.json (SMID, variant, where the database is), the
// live-KMC list, and by default its SQLite database (package store; a
// PostgreSQL database lets several module processes share TID, credit-limit
// and audit state). docs/sm.md describes the model and maps each
// requirement of STS 600-10-1 §4 to where it is met.
//
// # What the module does
//
//   - Identity: an SMID naming its ECDH key (records.NewPKID), model
//     Model, one firmware identifier per API (FirmwareSTS6,
//     FirmwareHTTP), and Virtual always true: a software module must never
//     be known to a live KMC (§4.5).
//   - KEK slots: a KMC key (PK.ECDH.1) is installed into a slot by a
//     security officer, who must type its fingerprint and declare the KMC a
//     test KMC; KMCs on the live-KMC list are refused. From a slot the
//     module makes a VKLOAD.REQ.1, then loads the Key Load File that
//     answers it, all or nothing, into its vending key registers.
//   - Registers: up to Options.MaxRegisters (default 10 000, at least 25 as
//     §4.1.1 asks), keyed by (SGC, KRN, KT), each key sealed with its
//     attributes (BDT, DKGA, EA, KEN, ACT, IUT, CLM as loaded, KCV) as
//     additional data.
//   - Tokens: Credit (every class 0 subclass, currency included), Manage
//     (every class 2 register subclass), KeyChange (sets of 2, 3 or 4
//     tokens, rollover to the next base date), Test (class 1) and Verify,
//     under the variant rules of §4.1.3 (policy.go) and the checks listed on
//     each method: ACT ≤ now ≤ IUT, TID within KEN, register present,
//     credit limit decremented in the same transaction as the token, a
//     TID per meter and key that only increases, idempotent request ids.
//   - Audit: every token issued, key loaded and slot changed appends a
//     record to the hash-chained audit log (package audit) in the same
//     transaction, so the change and its record commit together before
//     the answer leaves. Requests that arrive together share a
//     transaction (group commit), each keeping its own outcome.
//   - Self-tests at Open and on demand (Selftest): known-answer tests of
//     DES, STA, MISTY1, DKGA02/04, HMAC, AES-GCM and ECDH, and an integrity
//     check of the stored state; any failure puts the module in an error
//     state in which it refuses all service and says why.
//   - Roles: every method takes an Actor and checks its Role (officer,
//     operator, auditor). Authentication comes with the network API.
//
// # Errors
//
// Every refusal is an *Error carrying its STS6-style status code (Code),
// matching one of the sentinel errors with errors.Is; CodeOf gives the code
// of any error. Errors never hold key material.
//
// # What this package must never do
//
// Log or print anything, put a key (vending, decoder, KEK, private) into
// an error, a result, the audit log or the database in clear, or make a
// token outside a transaction that records it.
//
// # Imports
//
// The standard library, sts (and its sub-packages), records (and armor),
// keyagree, keyload, keystore, store and audit.
package sm
