package keystore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Sealed is the sealed file store: a Custody over a directory made by Init
// or InitTest, opened by Unlock or UnlockTest. It is safe for concurrent
// use; GenerateECDH and Delete run one at a time, everything else in
// parallel.
//
// While unlocked it holds the key-file key and the seal key, both derived
// from the storage key, in one buffer that Lock clears. Private keys are
// not cached: each operation reads the key file, decrypts the scalar, uses
// it and clears it (see the package documentation for what Go leaves
// behind). Every key file is read and checked once by Unlock: a store with
// a damaged or altered file does not unlock (ErrCorrupt).
type Sealed struct {
	dir     string
	test    bool
	storeID []byte

	mu   sync.RWMutex
	keys []byte // key-file key ‖ seal key while unlocked; nil after Lock

	crash crashHook // tests only: simulate a crash inside writeFileAtomic
}

// Purposes of the keys HKDF derives from the storage key.
const (
	purposeKCV   = "check value"
	purposeMAC   = "metadata mac"
	purposeFiles = "key files"
	purposeSeal  = "seal"
)

// sealVersion is the first byte of every blob Seal makes.
const sealVersion = 1

// SealOverhead is how many bytes Sealed.Seal adds to a plaintext: a version
// byte, the 12-byte nonce and the 16-byte GCM tag.
const SealOverhead = 1 + nonceSize + tagSize

// Init makes a new production store in dir, which must not exist (its
// parent must) or be empty (ErrStoreExists). It creates a random storage
// key, splits it into one XOR component per officer and encrypts each
// component under a key derived from that officer's passphrase (Argon2id,
// DefaultKDF or WithKDF). Every officer will be needed to unlock.
//
// officers must be 2 to MaxOfficers officers with distinct names (compared
// without case) that pass CheckName, and passphrases of at least
// MinPassphraseLen bytes (ErrOfficers). Init does not unlock the store and
// does not keep the passphrases; the caller clears them.
//
// keystore.json is written last: if Init fails or the machine stops before
// it returns, the directory holds no store (Unlock says ErrNoStore, Init
// ErrStoreExists); remove it and start again.
func Init(dir string, officers []Component, opts ...Option) error {
	o, err := initOf(officers, opts)
	if err != nil {
		return err
	}
	return create(dir, officers, o.kdf, false)
}

// initOf is the options of an Init or RegisterOfficers, opts applied over
// the defaults, once officers pass the rules of Init (ErrOfficers).
func initOf(officers []Component, opts []Option) (initOptions, error) {
	o := initOptions{kdf: kdfDefault}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, checkOfficers(officers, MinPassphraseLen)
}

// Names of the officers of a test store.
const (
	testOfficer1 = "test-officer-1"
	testOfficer2 = "test-officer-2"
)

// InitTest makes a new test store in dir, under the same rules as Init:
// two officers, test-officer-1 and test-officer-2, with random passphrases
// written in the clear to TEST-ONLY-unlock.json in dir. Such a store
// protects nothing; its metadata says test mode, and so does TestMode once
// it is unlocked (by UnlockTest, or by Unlock with the passphrases from the
// file). Its components use cheap Argon2id parameters, since the
// passphrases lie beside them anyway.
func InitTest(dir string) error {
	officers := []Component{
		{Officer: testOfficer1, Passphrase: []byte(hex.EncodeToString(randomBytes(24)))},
		{Officer: testOfficer2, Passphrase: []byte(hex.EncodeToString(randomBytes(24)))},
	}
	return create(dir, officers, kdfTestMode, true)
}

// initCrashHook, set only by tests, simulates a crash in the middle of the
// writes of Init.
var initCrashHook crashHook

// checkOfficers applies the rules of Init to officers.
// CheckOfficers checks the officers as Init does (ErrOfficers), so that a
// caller can refuse them before it makes anything.
func CheckOfficers(officers []Component) error { return checkOfficers(officers, MinPassphraseLen) }

func checkOfficers(officers []Component, minPassphrase int) error {
	if len(officers) < 2 {
		return fmt.Errorf("%w: dual control needs at least 2 officers, got %d", ErrOfficers, len(officers))
	}
	if len(officers) > MaxOfficers {
		return fmt.Errorf("%w: %d officers, at most %d", ErrOfficers, len(officers), MaxOfficers)
	}
	for i, o := range officers {
		if err := CheckName(o.Officer); err != nil {
			return fmt.Errorf("%w: officer %d: %w", ErrOfficers, i, err)
		}
		for _, prev := range officers[:i] {
			if strings.EqualFold(prev.Officer, o.Officer) {
				return fmt.Errorf("%w: officer %q given twice", ErrOfficers, o.Officer)
			}
		}
		if len(o.Passphrase) < minPassphrase {
			return fmt.Errorf("%w: passphrase of officer %q is shorter than %d bytes", ErrOfficers, o.Officer, minPassphrase)
		}
	}
	return nil
}

// create makes the store: directory, components, check value, MAC, the
// TEST-ONLY unlock file for a test store, and keystore.json last.
func create(dir string, officers []Component, kdf KDFParams, test bool) error {
	if err := prepareDir(dir); err != nil {
		return err
	}
	m := &meta{test: test, storeID: randomBytes(storeIDSize)}
	var err error
	doSecret(func() { err = m.split(officers, kdf) })
	if err != nil {
		return err
	}
	data, err := m.marshal()
	if err != nil {
		return err
	}
	if test {
		j := testJSON{Warning: testWarning, Format: formatTest, Version: formatVersion, StoreID: hex.EncodeToString(m.storeID)}
		for _, o := range officers {
			j.Officers = append(j.Officers, testOfficer{Officer: o.Officer, Passphrase: string(o.Passphrase)})
		}
		td, err := json.MarshalIndent(j, "", "  ")
		if err != nil {
			return fmt.Errorf("keystore: encode %s: %w", testFileName, err)
		}
		if err := writeFileAtomic(dir, testFileName, append(td, '\n'), initCrashHook); err != nil {
			return err
		}
	}
	return writeFileAtomic(dir, metaFileName, data, initCrashHook)
}

// split makes a storage key, its components, check value and MAC into m.
func (m *meta) split(officers []Component, kdf KDFParams) error {
	sk := randomBytes(keySize) // the storage key
	defer clear(sk)
	acc := make([]byte, keySize) // XOR of the components made so far
	defer clear(acc)
	comp := make([]byte, keySize)
	defer clear(comp)
	n := len(officers)
	for i, o := range officers {
		if i < n-1 {
			rand.Read(comp)
			subtle.XORBytes(acc, acc, comp)
		} else {
			subtle.XORBytes(comp, sk, acc) // sk = C1 ⊕ … ⊕ Cn
		}
		c := component{officer: o.Officer, kdf: kdf, salt: randomBytes(saltSize), nonce: randomBytes(nonceSize)}
		kek := deriveKEK(o.Passphrase, c.salt, kdf)
		sealed, err := sealWith(kek, c.nonce, comp, componentAAD(m.storeID, i, n, o.Officer))
		clear(kek)
		if err != nil {
			return err
		}
		c.sealed = sealed
		m.comps = append(m.comps, c)
	}
	var err error
	if m.kcv, err = checkValue(sk, m.storeID); err != nil {
		return err
	}
	m.mac, err = m.computeMAC(sk)
	return err
}

// open recovers the storage key from the components, checks it against the
// check value and the metadata MAC, and returns the working keys (key-file
// key ‖ seal key). pass holds each component's passphrase, in store order.
func (m *meta) open(pass [][]byte) ([]byte, error) {
	sk, err := m.storageKey(pass)
	if err != nil {
		return nil, err
	}
	defer clear(sk)
	kcv, err := checkValue(sk, m.storeID)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(kcv, m.kcv) != 1 {
		return nil, fmt.Errorf("%w: the components do not make the storage key (check value differs)", ErrCorrupt)
	}
	mac, err := m.computeMAC(sk)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(mac, m.mac) {
		return nil, fmt.Errorf("%w: %s does not authenticate", ErrCorrupt, metaFileName)
	}
	keys := make([]byte, 0, 2*keySize)
	for _, purpose := range []string{purposeFiles, purposeSeal} {
		k, err := deriveKey(sk, m.storeID, purpose, keySize)
		if err != nil {
			clear(keys)
			return nil, err
		}
		keys = append(keys, k...)
		clear(k)
	}
	return keys, nil
}

// storageKey decrypts every component and XORs them into the storage key,
// which the caller clears. Every officer whose passphrase fails is named
// (errors.Join of *OfficerError).
func (m *meta) storageKey(pass [][]byte) ([]byte, error) {
	sk := make([]byte, keySize)
	var bad []error
	n := len(m.comps)
	for i, c := range m.comps {
		kek := deriveKEK(pass[i], c.salt, c.kdf)
		comp, err := openWith(kek, c.nonce, c.sealed, componentAAD(m.storeID, i, n, c.officer))
		clear(kek)
		if err != nil {
			bad = append(bad, &OfficerError{Officer: c.officer, Err: ErrBadPassphrase})
			continue
		}
		subtle.XORBytes(sk, sk, comp)
		clear(comp)
	}
	if len(bad) > 0 {
		clear(sk)
		return nil, errors.Join(bad...)
	}
	return sk, nil
}

// computeMAC returns HMAC-SHA-256 of the metadata under the MAC key.
func (m *meta) computeMAC(sk []byte) ([]byte, error) {
	k, err := deriveKey(sk, m.storeID, purposeMAC, keySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	h := hmac.New(sha256.New, k)
	h.Write(m.authenticated())
	return h.Sum(nil), nil
}

// checkValue is the storage key's check value: the first 3 bytes of its
// own HKDF output, so it names the key without revealing anything used
// elsewhere (the classic AES check value, E_K(0), would leak bits of the
// GCM hash key).
func checkValue(sk, storeID []byte) ([]byte, error) {
	return deriveKey(sk, storeID, purposeKCV, kcvSize)
}

// deriveKey is HKDF-SHA-256(storage key, salt = store id, info = purpose).
func deriveKey(sk, storeID []byte, purpose string, n int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, sk, storeID, formatStore+" v1 "+purpose, n)
	if err != nil {
		return nil, fmt.Errorf("keystore: derive %s key: %w", purpose, err)
	}
	return k, nil
}

// Unlock opens the store in dir with every officer's credential and returns
// it unlocked. Missing officers are a *QuorumError, a credential for an
// officer the store does not know is an *OfficerError (ErrUnknownOfficer),
// and a passphrase that does not open its component is an *OfficerError
// (ErrBadPassphrase), one per officer concerned. Unlock then checks the
// metadata and every key file under the storage key (ErrCorrupt) and
// removes temporary files a crash left.
//
// A test store unlocks here too, and says so through TestMode. Unlock does
// not keep or modify the credentials; the caller clears them.
func Unlock(dir string, creds []Component) (*Sealed, error) {
	m, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	return unlock(dir, m, creds)
}

// UnlockTest opens a test store with the passphrases of its
// TEST-ONLY-unlock.json. A production store, or a directory without that
// file, is refused with ErrNotTestStore.
func UnlockTest(dir string) (*Sealed, error) {
	m, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	if !m.test {
		return nil, fmt.Errorf("%w: %s holds a production store", ErrNotTestStore, dir)
	}
	data, err := readFileLimited(dir, testFileName, maxTestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s in %s", ErrNotTestStore, testFileName, dir)
	}
	if err != nil {
		return nil, err
	}
	creds, err := parseTestFile(data, m.storeID)
	clear(data)
	if err != nil {
		return nil, err
	}
	defer func() {
		for i := range creds {
			creds[i].Zero()
		}
	}()
	return unlock(dir, m, creds)
}

// readMeta reads and parses dir/keystore.json.
func readMeta(dir string) (*meta, error) {
	data, err := readFileLimited(dir, metaFileName, maxMetaSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s in %s", ErrNoStore, metaFileName, dir)
	}
	if err != nil {
		return nil, err
	}
	return parseMeta(data)
}

func unlock(dir string, m *meta, creds []Component) (*Sealed, error) {
	pass, err := matchCreds(m, creds)
	if err != nil {
		return nil, err
	}
	s := &Sealed{dir: dir, test: m.test, storeID: m.storeID}
	doSecret(func() { s.keys, err = m.open(pass) })
	if err != nil {
		return nil, err
	}
	// A Sealed dropped without Lock still has its keys cleared.
	runtime.AddCleanup(s, func(k []byte) { clear(k) }, s.keys)
	if err := removeTemps(dir); err != nil {
		s.Lock()
		return nil, err
	}
	if err := s.verifyKeys(); err != nil {
		s.Lock()
		return nil, err
	}
	return s, nil
}

// matchCreds puts each credential's passphrase at its component's index.
func matchCreds(m *meta, creds []Component) ([][]byte, error) {
	pass := make([][]byte, len(m.comps))
	given := make([]bool, len(m.comps))
	for i, c := range creds {
		if CheckName(c.Officer) != nil {
			return nil, fmt.Errorf("%w: credential %d: officer name not allowed", ErrOfficers, i)
		}
		idx := -1
		for j := range m.comps {
			if m.comps[j].officer == c.Officer {
				idx = j
			}
		}
		if idx < 0 {
			return nil, &OfficerError{Officer: c.Officer, Err: ErrUnknownOfficer}
		}
		if given[idx] {
			return nil, fmt.Errorf("%w: officer %q given twice", ErrOfficers, c.Officer)
		}
		given[idx], pass[idx] = true, c.Passphrase
	}
	var missing []string
	for j, ok := range given {
		if !ok {
			missing = append(missing, m.comps[j].officer)
		}
	}
	if len(missing) > 0 {
		return nil, &QuorumError{Missing: missing, Have: len(m.comps) - len(missing), Need: len(m.comps)}
	}
	return pass, nil
}

// verifyKeys reads and checks every key file: it parses, its scalar opens
// under its name and matches its public key.
func (s *Sealed) verifyKeys() error {
	names, err := keyNames(s.dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		kf, err := s.readKey(name)
		if err != nil {
			return err
		}
		doSecret(func() {
			if kf.typ == keyTypeP256Sign {
				_, err = s.signingKey(kf)
			} else {
				_, err = s.privateKey(kf)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// TestMode reports a test store (made by InitTest): its unlock material
// lies beside it and it protects nothing. Show TestModeWarning wherever it
// is used.
func (s *Sealed) TestMode() bool { return s.test }

// Lock clears the working keys. Every later call but Lock and TestMode
// returns ErrLocked.
func (s *Sealed) Lock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.keys)
	s.keys = nil
}

// rlock takes the read lock if s is unlocked (ErrLocked) and ctx is not
// done; the caller then RUnlocks.
func (s *Sealed) rlock(ctx context.Context) error { return s.lockOpen(ctx, s.mu.RLocker()) }

// wlock takes the write lock if s is unlocked (ErrLocked) and ctx is not
// done; the caller then Unlocks.
func (s *Sealed) wlock(ctx context.Context) error { return s.lockOpen(ctx, &s.mu) }

// lockOpen takes l, one side of s.mu, if s is unlocked (ErrLocked) and ctx
// is not done; otherwise it leaves l as it was.
func (s *Sealed) lockOpen(ctx context.Context, l sync.Locker) error {
	return LockOpen(ctx, l, func() bool { return s.keys != nil })
}

func (s *Sealed) fileKey() []byte { return s.keys[:keySize] }
func (s *Sealed) sealKey() []byte { return s.keys[keySize:] }

// GenerateECDH implements Custody: a P-384 key pair from crypto/rand, its
// scalar sealed into NAME.key.
func (s *Sealed) GenerateECDH(ctx context.Context, name string) (*ecdh.PublicKey, error) {
	return s.generate(ctx, name, keyTypeP384)
}

// generate makes a key pair of type typ named name.
func (s *Sealed) generate(ctx context.Context, name, typ string) (*ecdh.PublicKey, error) {
	if err := s.wlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if err := CheckName(name); err != nil {
		return nil, err
	}
	names, err := keyNames(s.dir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return nil, fmt.Errorf("%w: %q", ErrExists, n)
		}
	}
	var kf *keyFile
	doSecret(func() { kf, err = s.newKey(name, typ) })
	if err != nil {
		return nil, err
	}
	data, err := kf.marshal()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(s.dir, name+keyFileExt, data, s.crash); err != nil {
		return nil, err
	}
	return kf.pub, nil
}

// newKey generates a key pair of type typ and seals its scalar.
func (s *Sealed) newKey(name, typ string) (*keyFile, error) {
	curve, _, _, _ := keyCurve(typ)
	priv, err := curve.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keystore: generate %s key: %w", typ, err)
	}
	d := priv.Bytes()
	defer clear(d)
	kf := &keyFile{name: name, typ: typ, pub: priv.PublicKey(), nonce: randomBytes(nonceSize)}
	kf.sealed, err = sealWith(s.fileKey(), kf.nonce, d, keyAAD(s.storeID, typ, name, kf.pub))
	if err != nil {
		return nil, err
	}
	return kf, nil
}

// readKey reads and parses the file of key name.
func (s *Sealed) readKey(name string) (*keyFile, error) {
	data, err := readFileLimited(s.dir, name+keyFileExt, maxKeyFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	return parseKeyFile(name, data)
}

// openScalar decrypts the private scalar of kf; the caller clears it.
func (s *Sealed) openScalar(kf *keyFile) ([]byte, error) {
	d, err := openWith(s.fileKey(), kf.nonce, kf.sealed, keyAAD(s.storeID, kf.typ, kf.name, kf.pub))
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not authenticate (altered, renamed or from another store)", ErrCorrupt, kf.name+keyFileExt)
	}
	return d, nil
}

// privateKey decrypts kf into a private key and checks it against the
// public key. The ecdh.PrivateKey keeps a copy of the scalar that cannot be
// cleared: call it inside doSecret and drop the key soon.
func (s *Sealed) privateKey(kf *keyFile) (*ecdh.PrivateKey, error) {
	if kf.typ != keyTypeP384 {
		return nil, keyTypeError(kf.name, keyTypeP384)
	}
	d, err := s.openScalar(kf)
	if err != nil {
		return nil, err
	}
	defer clear(d)
	priv, err := ecdh.P384().NewPrivateKey(d)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not a valid P-384 private key", ErrCorrupt, kf.name+keyFileExt)
	}
	if !priv.PublicKey().Equal(kf.pub) {
		return nil, fmt.Errorf("%w: %s: private and public key do not match", ErrCorrupt, kf.name+keyFileExt)
	}
	return priv, nil
}

// PublicKey implements Custody. The public key in the file is
// authenticated (it is part of the additional data of the sealed scalar)
// before it is returned.
func (s *Sealed) PublicKey(ctx context.Context, name string) (*ecdh.PublicKey, error) {
	kf, err := s.authenticKey(ctx, name, keyTypeP384)
	if err != nil {
		return nil, err
	}
	return kf.pub, nil
}

// authenticKey reads, under the read lock, the key file of name, which
// must hold a key of type typ (see readKeyOfType), and authenticates it.
func (s *Sealed) authenticKey(ctx context.Context, name, typ string) (*keyFile, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	kf, err := s.readKeyOfType(name, typ)
	if err != nil {
		return nil, err
	}
	if err := s.authenticate(kf); err != nil {
		return nil, err
	}
	return kf, nil
}

// readKeyOfType checks name and reads its key file, which must hold a key
// of type typ (keyTypeP384 or keyTypeP256Sign; ErrKeyType otherwise). The
// caller holds the lock.
func (s *Sealed) readKeyOfType(name, typ string) (*keyFile, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	kf, err := s.readKey(name)
	if err != nil {
		return nil, err
	}
	if kf.typ != typ {
		return nil, keyTypeError(name, typ)
	}
	return kf, nil
}

// keyTypeError is the ErrKeyType of key name when it is not of type want.
func keyTypeError(name, want string) error {
	if want == keyTypeP384 {
		return fmt.Errorf("%w: %q is a signing key, not an ECDH key", ErrKeyType, name)
	}
	return fmt.Errorf("%w: %q is an ECDH key, not a signing key", ErrKeyType, name)
}

// authenticate opens the sealed scalar of kf, which authenticates the
// whole file, and clears it at once.
func (s *Sealed) authenticate(kf *keyFile) error {
	var err error
	doSecret(func() {
		var d []byte
		if d, err = s.openScalar(kf); err == nil {
			clear(d)
		}
	})
	return err
}

// ECDH implements Custody. The private key is decrypted for this call only.
func (s *Sealed) ECDH(ctx context.Context, name string, peer *ecdh.PublicKey) ([]byte, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if peer == nil || peer.Curve() != ecdh.P384() {
		return nil, ErrPeer
	}
	kf, err := s.readKey(name)
	if err != nil {
		return nil, err
	}
	var z []byte
	doSecret(func() {
		var priv *ecdh.PrivateKey
		if priv, err = s.privateKey(kf); err != nil {
			return
		}
		if z, err = priv.ECDH(peer); err != nil {
			// Unreachable for valid P-384 keys; the error carries no
			// key material, but is not passed on all the same.
			err = fmt.Errorf("keystore: ECDH with key %q failed", name)
		}
	})
	if err != nil {
		return nil, err
	}
	return z, nil
}

// Seal implements Custody: version byte 1 ‖ 12-byte random nonce ‖
// AES-256-GCM ciphertext and tag under the seal key, with the version byte
// and aad as additional data. With random nonces one store should seal no
// more than 2³² blobs (NIST SP 800-38D); that is far beyond the vending
// keys of any utility.
func (s *Sealed) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	nonce := randomBytes(nonceSize)
	out := make([]byte, 0, SealOverhead+len(plaintext))
	out = append(append(out, sealVersion), nonce...)
	var err error
	doSecret(func() {
		var g cipher.AEAD
		if g, err = newGCM(s.sealKey()); err == nil {
			out = g.Seal(out, nonce, plaintext, sealAAD(aad))
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Open implements Custody. Every failure is ErrUnseal and says no more.
func (s *Sealed) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if len(sealed) < SealOverhead || sealed[0] != sealVersion {
		return nil, ErrUnseal
	}
	var pt []byte
	var err error
	doSecret(func() {
		pt, err = openWith(s.sealKey(), sealed[1:1+nonceSize], sealed[1+nonceSize:], sealAAD(aad))
	})
	if err != nil {
		return nil, ErrUnseal
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// sealAAD is the additional data of a Seal blob: its version byte, then
// the caller's aad.
func sealAAD(aad []byte) []byte {
	return append([]byte{sealVersion}, aad...)
}

// Delete implements Custody: the key file is removed and the removal made
// durable. The sealed bytes may survive on the disk; they open only under
// this store's storage key.
func (s *Sealed) Delete(ctx context.Context, name string) error {
	if err := s.wlock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := CheckName(name); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(s.dir, name+keyFileExt))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("keystore: delete key %q: %w", name, err)
	}
	return syncDir(s.dir)
}

// Format implements fmt.Formatter: a Sealed prints as its directory and
// mode, with every verb, and never shows a key.
func (s *Sealed) Format(f fmt.State, _ rune) {
	if s == nil {
		fmt.Fprint(f, "keystore.Sealed(nil)")
		return
	}
	mode := modeProduction
	if s.test {
		mode = "TEST (keys not protected)"
	}
	fmt.Fprintf(f, "keystore.Sealed{dir: %s, mode: %s}", strconv.Quote(s.dir), mode)
}

// SecretErasure reports whether this binary erases the transient copies of
// key material made inside crypto/aes, crypto/ecdh and the Argon2id code:
// true when built with GOEXPERIMENT=runtimesecret on linux/amd64 or
// linux/arm64. A security module shows it in its status.
func SecretErasure() bool {
	return secretErasure && runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64")
}

// newGCM returns AES-256-GCM under key.
func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keystore: AES: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("keystore: GCM: %w", err)
	}
	return g, nil
}

// sealWith encrypts plaintext under key with AES-256-GCM.
func sealWith(key, nonce, plaintext, aad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return g.Seal(nil, nonce, plaintext, aad), nil
}

// openWith decrypts ciphertext under key with AES-256-GCM. The error says
// only that authentication failed.
func openWith(key, nonce, ciphertext, aad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	pt, err := g.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, errors.New("keystore: authentication failed")
	}
	return pt, nil
}

// randomBytes returns n bytes from crypto/rand (which cannot fail).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
