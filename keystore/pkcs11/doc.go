// Package pkcs11 is the key custody of the security module (SM) and the
// KMC in a PKCS#11 token — a hardware security module, a smart card, or
// SoftHSM2 for tests: a keystore.Custody ([Token]) whose P-384 ECDH
// private keys and storage key are non-extractable objects in the token.
//
// # What lives in the token
//
// Every object is labelled "stskms/NAMESPACE/…", the namespace coming from
// the configuration, so that an SM and a KMC (or several SMs) can share a
// token:
//
//   - stskms/NAMESPACE/storage — the storage key: AES-256, CKA_TOKEN,
//     CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE; made by [Init],
//     found by [Open]. [Token.Seal] and [Token.Open] are CKM_AES_GCM under
//     it in the token, in exactly the blob format of keystore.Sealed:
//     version byte 1 ‖ 12-byte random nonce ‖ ciphertext and 16-byte tag,
//     the version byte and the caller's aad authenticated; every failure
//     of Open is keystore.ErrUnseal.
//   - stskms/NAMESPACE/ecdh/NAME — a P-384 key pair made by
//     [Token.GenerateECDH] (CKM_EC_KEY_PAIR_GEN in the token): the
//     private key CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not
//     CKA_EXTRACTABLE, CKA_DERIVE only (no signing). Its CKA_ID is the
//     label with NAME folded to lower case, so that names differing only
//     in case cannot both exist, as in the sealed store. A signing key
//     pair made by [Token.GenerateSigner] (P-256, such as the audit key)
//     has the same label and rules but CKA_SIGN only (CKM_ECDSA in the
//     token).
//
// [Token.ECDH] is CKM_ECDH1_DERIVE with CKD_NULL: the token derives the
// 48-byte shared secret (the x-coordinate, as crypto/ecdh computes it)
// into a session object — not on the token, not sensitive, extractable,
// CKK_GENERIC_SECRET — whose CKA_VALUE is read and which is destroyed at
// once. The private key itself never leaves the token, and nothing can
// make it: a token refuses to reset CKA_SENSITIVE or set CKA_EXTRACTABLE.
//
// # crypto11 and the raw module
//
// The token is reached through github.com/ThalesGroup/crypto11 for what it
// supports: loading the module, finding the token by label, logging in,
// its session pool, generating the key pair and the storage key, finding
// keys by label and id, deleting them, and AES-GCM (its SecretKey AEAD,
// with our nonce). crypto11 has no ECDH, so [Token.ECDH] uses
// github.com/miekg/pkcs11 directly on the same module: a second handle on
// the library crypto11 initialised (it is loaded once per process, so it
// shares crypto11's login), on the slot crypto11 chose, with a session per
// call. The raw handle never finalises the module; crypto11 does when its
// last context closes.
//
// # Configuration and PIN
//
// A [Config] (a small JSON file, [ConfigFileName] in the custody
// directory of the module or KMC: format, module path, token label,
// namespace) says where the keys are, and never holds the PIN: [ReadPIN]
// takes the user PIN from a PIN file readable by its owner only, else the
// systemd credential [PINCredential], else the environment ([PINEnv]). A
// PIN file that cannot be used is [ErrPINFile] (a [*PINFileError] saying
// why), a wrong PIN [ErrPIN] (which wraps keystore.ErrBadPassphrase), a
// locked one [ErrPINLocked]; no error holds the PIN.
//
// # Locking, zeroisation and limits
//
// [Token.Lock] waits for operations in progress, closes the custody's
// sessions and its hold on the module; the token's login ends with the
// process's last session on it. Later calls return keystore.ErrLocked.
// The custody holds no key in memory: only the shared secrets ECDH
// returns (the caller clears them) and Open's plaintexts pass through it.
// What Go and cgo do not let us clear: the PIN is handed to crypto11 as a
// Go string (dropped after login, not erased), and the C buffers the
// PKCS#11 library and miekg/pkcs11 use for a shared secret, a plaintext or
// the PIN are freed without being overwritten.
//
// Limits: PKCS#11 login is per process and token, so while one custody of
// a process is logged in to a token, a second [Open] of that token in the
// same process is not asked for a correct PIN again (the token reports it
// is logged in already). The token's own access control (for example an
// HSM's m-of-n cards) replaces the officers' split passphrases of the
// sealed store for opening it; the officers of its dual control are
// registered beside it (keystore.RegisterOfficers, done by package
// custodydir at init). A token custody is never in
// test mode. Nothing here backs up the token's keys: use the token's own
// backup (an HSM's key backup, SoftHSM2's token directory).
//
// # cgo
//
// PKCS#11 modules are C libraries, so this package needs cgo; it is the
// only package of the project that does. Built without cgo, [Init] and
// [Open] return [ErrNoCgo], and everything else still compiles.
package pkcs11
