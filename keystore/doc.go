// Package keystore is the key custody of the security module (SM) and the
// key management centre (KMC): the one room where their P-384 ECDH private
// keys live, and the holder of the storage key that seals every other
// secret they keep (vending keys, KEKs) before it goes into a database.
//
// SM and KMC code depends only on the small [Custody] interface. A private
// key is created inside custody ([Custody.GenerateECDH]) and never leaves
// it: callers get its public key and the results of ECDH with it. Secrets
// the SM or KMC must store elsewhere go through [Custody.Seal] and come
// back through [Custody.Open], so the database holds only sealed blobs and
// can be copied without exposing a key (the storage is untrusted, as behind
// Vault's barrier).
//
// # The sealed file store
//
// [Sealed] is the default implementation: a directory holding
//
//   - keystore.json — format, version, mode (production or test), a random
//     store id, the storage key's check value (KCV), one encrypted component
//     per security officer, and an HMAC over all of it;
//   - NAME.key — one file per private key, of type "ecdh-p384" (an ECDH
//     key pair, GenerateECDH) or "ecdsa-p256" (a signing key pair, such as
//     the audit key, GenerateSigner): the public key in the clear and the
//     private scalar sealed with AES-256-GCM, the store id, the type, the
//     name and the public key as additional data, so a file renamed,
//     retyped, copied over another or taken from another store does not
//     authenticate;
//   - TEST-ONLY-unlock.json — only in a test store (see below).
//
// The storage key is 32 random bytes. [Init] splits it into n XOR
// components, one per officer (n ≥ 2), and encrypts each with AES-256-GCM
// under a key derived from that officer's passphrase by Argon2id (RFC 9106,
// [DefaultKDF]: t=3, m=64 MiB, p=4; 16-byte salt). The split is n-of-n: any
// n−1 components reveal nothing about the key, and [Unlock] needs every
// officer — this is the dual control (split knowledge) the security module
// requires for loading its master key (PCI HSM B7, B8). A wrong passphrase
// is [ErrBadPassphrase] naming the officer; a missing officer is a
// [*QuorumError].
//
// From the storage key, HKDF-SHA-256 (salt = store id) derives separate
// keys for the check value, the metadata HMAC, the key files and
// [Sealed.Seal], so no key serves two purposes (PCI HSM B13).
//
// # Test mode
//
// [InitTest] makes a store whose two officer passphrases are written, in
// the clear, to TEST-ONLY-unlock.json in the store directory; [UnlockTest]
// reads them. Such a store protects nothing. Its metadata records test mode
// under the HMAC, [Sealed.TestMode] reports it, and callers must say so
// wherever the store shows (see [TestModeWarning]). A test store also
// unlocks with its passphrases through [Unlock]; a production store never
// unlocks through [UnlockTest] ([ErrNotTestStore]).
//
// # Files and crashes
//
// Every file is written to a temporary file in the directory, synced,
// renamed into place and the directory synced: a crash leaves the old or
// the new file, never a mix. Keys are never overwritten (a name is used
// once), keystore.json is written once, last, by Init (a directory without
// it holds no store), and Unlock removes temporary files a crash left.
// Files are created 0600 in a 0700 directory. One directory belongs to one
// process at a time; nothing locks it against a second one.
//
// # Zeroisation, and what Go does not let us clear
//
// While unlocked, a Sealed holds the two working keys (key-file key and
// seal key, 64 bytes) in one buffer, and nothing else secret: the storage
// key, the components and the Argon2id keys are cleared as soon as Unlock
// has used them, and each private key is decrypted from its file for one
// operation and its bytes cleared afterwards (never cached in the clear).
// [Sealed.Lock] clears the working keys; a Sealed that becomes unreachable
// without Lock is cleared by a runtime cleanup.
//
// Go does not let us clear everything. crypto/aes and crypto/ecdh copy key
// bytes into internal state (AES key schedules, GCM hash keys, the scalar
// inside an ecdh.PrivateKey) that has no clearing API; those copies are
// freed after each operation but not erased, and immutable Go strings
// cannot be erased at all. Built with GOEXPERIMENT=runtimesecret (Go 1.26,
// linux/amd64 and linux/arm64), every operation here runs under
// runtime/secret.Do, so its registers and stack are erased on return and
// its heap allocations once the garbage collector frees them; Argon2id's
// worker goroutines are outside that protection. Memory is not locked
// (mlock): run the module with swap off or encrypted and core dumps
// disabled.
//
// # What this package must never do
//
// It never logs or prints anything, and never puts key material — a key, a
// component, a passphrase, a private scalar, a shared secret or a plaintext —
// into an error, a String method or a formatted value. Errors wrap the
// sentinels of errors.go with which file, name or officer, nothing more.
// [Component] and [Sealed] format (%v, %+v, %#v, %x, …) and marshal to
// JSON without their secrets.
//
// # Imports
//
// The standard library and golang.org/x/crypto/argon2, nothing else. The
// PKCS#11 back end (crypto11, with SoftHSM2 or a hardware token) lives in
// its own package, keystore/pkcs11, so that cgo stays out of this one:
// there the ECDH private keys and the storage key are non-extractable
// token objects, ECDH is CKM_ECDH1_DERIVE, Seal and Open are CKM_AES_GCM
// in the same blob format as [Sealed.Seal], and Lock closes the sessions.
// Package keystore/custodytest holds the contract tests both back ends
// pass, and the benchmarks that compare them. A directory records which kind it was initialised with
// ([KindSealed], [KindPKCS11]).
package keystore
