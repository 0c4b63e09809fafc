//go:build cgo

package pkcs11

import (
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"

	"github.com/stskms/stskms/keystore"
)

// Compile-time check that a Token is a keystore.Custody.
var _ keystore.Custody = (*Token)(nil)

// Available reports whether this binary can use PKCS#11 (it was built with
// cgo).
const Available = true

// Token is a keystore.Custody in a PKCS#11 token: made by Init, opened by
// Open, safe for concurrent use. GenerateECDH and Delete run one at a
// time, everything else in parallel (as many as the token has sessions).
//
// It holds no key material in memory: the private keys and the storage
// key are non-extractable token objects, referred to by label. Lock
// closes its sessions and its hold on the module.
type Token struct {
	cfg Config

	mu   sync.RWMutex
	c11  *crypto11.Context // nil after Lock
	raw  *p11.Ctx          // the same module, for what crypto11 lacks
	slot uint
	gcm  cipher.AEAD // crypto11's AES-GCM under the storage key
}

// Init makes a new custody in the token of cfg: it logs in with pin and
// creates the storage key (AES-256, sensitive, non-extractable, on the
// token) under cfg.Namespace. A namespace that holds a storage key already
// is refused (keystore.ErrStoreExists): one namespace, one module or KMC.
// It returns the custody open; Lock it when done. Init does not keep the
// PIN; the caller clears it.
func Init(cfg Config, pin []byte) (*Token, error) {
	return loginThen(cfg, pin, (*Token).createStorageKey)
}

// Open opens the custody of cfg made by Init: it logs in with pin and
// finds the storage key (keystore.ErrNoStore if the namespace has none).
// A wrong PIN is ErrPIN, a locked one ErrPINLocked. Open does not keep the
// PIN; the caller clears it.
func Open(cfg Config, pin []byte) (*Token, error) {
	return loginThen(cfg, pin, (*Token).loadStorageKey)
}

// loginThen logs in (login) and runs step on the token, locking it again
// if step fails.
func loginThen(cfg Config, pin []byte, step func(*Token) error) (*Token, error) {
	t, err := login(cfg, pin)
	if err != nil {
		return nil, err
	}
	if err := step(t); err != nil {
		t.Lock()
		return nil, err
	}
	return t, nil
}

// login loads the module, logs in to the token (through crypto11) and opens
// the raw context beside it.
func login(cfg Config, pin []byte) (*Token, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckPIN(pin); err != nil {
		return nil, err
	}
	c11cfg := &crypto11.Config{Path: cfg.Module, TokenLabel: cfg.TokenLabel, Pin: string(pin), GCMIVLength: nonceSize}
	c11, err := crypto11.Configure(c11cfg)
	// crypto11 logs in once, in Configure; it keeps cfg but needs the PIN
	// no more. The string copy cannot be erased, only dropped.
	c11cfg.Pin = ""
	if err != nil {
		return nil, configureError(cfg, err)
	}
	t := &Token{cfg: cfg, c11: c11}
	if err := t.openRaw(); err != nil {
		c11.Close()
		return nil, err
	}
	return t, nil
}

// configureError turns an error of crypto11.Configure into one of ours.
func configureError(cfg Config, err error) error {
	var code p11.Error
	switch {
	case errors.As(err, &code) && (code == p11.CKR_PIN_INCORRECT || code == p11.CKR_PIN_INVALID || code == p11.CKR_PIN_LEN_RANGE):
		return fmt.Errorf("%w: wrong PIN, token %q refused it", ErrPIN, cfg.TokenLabel)
	case errors.As(err, &code) && code == p11.CKR_PIN_LOCKED:
		return fmt.Errorf("%w: token %q", ErrPINLocked, cfg.TokenLabel)
	case strings.Contains(err.Error(), "could not find PKCS#11 token"):
		return fmt.Errorf("%w: no token labelled %q in %s", ErrToken, cfg.TokenLabel, cfg.Module)
	case strings.Contains(err.Error(), "module"):
		return fmt.Errorf("%w: %s: %v", ErrModule, cfg.Module, err)
	}
	return fmt.Errorf("%w: log in to token %q: %v", ErrDevice, cfg.TokenLabel, err)
}

// openRaw opens a second handle on the module crypto11 initialised (the
// library is loaded once, so sessions and login are shared) and finds the
// token's slot as crypto11 did: the first slot whose token has the label.
// A second token with the same label is refused.
func (t *Token) openRaw() error {
	raw := p11.New(t.cfg.Module)
	if raw == nil {
		return fmt.Errorf("%w: %s does not load", ErrModule, t.cfg.Module)
	}
	if err := raw.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		raw.Destroy()
		return fmt.Errorf("%w: %s: %v", ErrModule, t.cfg.Module, err)
	}
	slots, err := raw.GetSlotList(true)
	if err != nil {
		raw.Destroy()
		return fmt.Errorf("%w: list slots: %v", ErrDevice, err)
	}
	found := 0
	for _, s := range slots {
		info, err := raw.GetTokenInfo(s)
		if err == nil && info.Label == t.cfg.TokenLabel {
			if found == 0 {
				t.slot = s
			}
			found++
		}
	}
	if found != 1 {
		raw.Destroy()
		return fmt.Errorf("%w: %d tokens labelled %q in %s, want exactly one", ErrToken, found, t.cfg.TokenLabel, t.cfg.Module)
	}
	t.raw = raw
	return nil
}

// Object labels. Key names pass keystore.CheckName, which has no '/', so
// no key label can be the storage key's.
func (t *Token) prefix() string           { return "stskms/" + t.cfg.Namespace + "/" }
func (t *Token) storageLabel() []byte     { return []byte(t.prefix() + "storage") }
func (t *Token) keyLabel(n string) []byte { return []byte(t.prefix() + "ecdh/" + n) }

// keyID is CKA_ID of key pair n: its label with the name folded to lower
// case, so that two names differing only in case cannot both exist (as in
// the sealed store).
func (t *Token) keyID(n string) []byte { return []byte(t.prefix() + "ecdh/" + strings.ToLower(n)) }

// nonceSize is the GCM nonce length of Seal.
const nonceSize = 12

// sealVersion is the first byte of every blob Seal makes.
const sealVersion = 1

// SealOverhead is how many bytes Seal adds to a plaintext: a version byte,
// the 12-byte nonce and the 16-byte GCM tag (as keystore.SealOverhead).
const SealOverhead = 1 + nonceSize + 16

// createStorageKey makes the namespace's storage key, refusing if it exists.
func (t *Token) createStorageKey() error {
	keys, err := t.c11.FindKeys(nil, t.storageLabel())
	if err != nil {
		return deviceError("find the storage key", err)
	}
	if len(keys) > 0 {
		return fmt.Errorf("%w: token %q has a storage key in namespace %q already", keystore.ErrStoreExists, t.cfg.TokenLabel, t.cfg.Namespace)
	}
	tmpl, err := crypto11.NewAttributeSetWithIDAndLabel(t.storageLabel(), t.storageLabel())
	if err == nil {
		err = tmpl.Set(crypto11.CkaPrivate, true)
	}
	if err != nil {
		return deviceError("storage key template", err)
	}
	key, err := t.c11.GenerateSecretKeyWithAttributes(tmpl, 256, crypto11.CipherAES)
	if err != nil {
		return deviceError("generate the storage key", err)
	}
	return t.useStorageKey(key)
}

// loadStorageKey finds the namespace's storage key.
func (t *Token) loadStorageKey() error {
	keys, err := t.c11.FindKeys(nil, t.storageLabel())
	if err != nil {
		return deviceError("find the storage key", err)
	}
	switch len(keys) {
	case 0:
		return fmt.Errorf("%w: token %q has no storage key in namespace %q", keystore.ErrNoStore, t.cfg.TokenLabel, t.cfg.Namespace)
	case 1:
		return t.useStorageKey(keys[0])
	}
	return fmt.Errorf("%w: token %q has %d storage keys in namespace %q", keystore.ErrCorrupt, t.cfg.TokenLabel, len(keys), t.cfg.Namespace)
}

// useStorageKey checks that key is AES, sensitive and not extractable, and
// makes the AEAD Seal and Open use.
func (t *Token) useStorageKey(key *crypto11.SecretKey) error {
	attrs, err := t.c11.GetAttributes(key, []crypto11.AttributeType{p11.CKA_KEY_TYPE, p11.CKA_SENSITIVE, p11.CKA_EXTRACTABLE, p11.CKA_VALUE_LEN})
	if err != nil {
		return deviceError("read the storage key's attributes", err)
	}
	if !attrIs(attrs[p11.CKA_KEY_TYPE], ulong(p11.CKK_AES)) || !attrIs(attrs[p11.CKA_SENSITIVE], []byte{1}) ||
		!attrIs(attrs[p11.CKA_EXTRACTABLE], []byte{0}) || !attrIs(attrs[p11.CKA_VALUE_LEN], ulong(32)) {
		return fmt.Errorf("%w: the storage key in namespace %q is not a sensitive, non-extractable AES-256 key", keystore.ErrCorrupt, t.cfg.Namespace)
	}
	if t.gcm, err = key.NewGCM(); err != nil {
		return deviceError("AES-GCM", err)
	}
	return nil
}

func attrIs(a *crypto11.Attribute, want []byte) bool {
	return a != nil && string(a.Value) == string(want)
}

// ulong encodes n as a CK_ULONG attribute value.
func ulong(n uint) []byte { return p11.NewAttribute(p11.CKA_VALUE_LEN, n).Value }

// deviceError wraps a token error; PKCS#11 errors carry only a return code.
func deviceError(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrDevice, what, err)
}

// rlock takes the read lock if t is open (keystore.ErrLocked) and ctx is
// not done; the caller then RUnlocks.
func (t *Token) rlock(ctx context.Context) error { return t.lockOpen(ctx, t.mu.RLocker()) }

// wlock is rlock with the write lock.
func (t *Token) wlock(ctx context.Context) error { return t.lockOpen(ctx, &t.mu) }

// lockOpen takes l, one side of t.mu, if t is open (keystore.ErrLocked)
// and ctx is not done; otherwise it leaves l as it was.
func (t *Token) lockOpen(ctx context.Context, l sync.Locker) error {
	return keystore.LockOpen(ctx, l, func() bool { return t.c11 != nil })
}

// Lock implements keystore.Custody: it waits for operations in progress,
// closes this custody's sessions and drops its hold on the module (the
// token's login ends with the process's last session on it). Every later
// call but Lock and TestMode returns keystore.ErrLocked.
func (t *Token) Lock() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c11 == nil {
		return
	}
	// The raw handle never finalises the module: crypto11 does, when its
	// last context closes.
	t.raw.Destroy()
	t.raw, t.gcm = nil, nil
	t.c11.Close()
	t.c11 = nil
}

// TestMode implements keystore.Custody: a token custody is never in test
// mode.
func (t *Token) TestMode() bool { return false }

// GenerateECDH implements keystore.Custody: a P-384 key pair generated in
// the token, the private key on the token (CKA_TOKEN), private, sensitive,
// non-extractable, usable for derivation only.
func (t *Token) GenerateECDH(ctx context.Context, name string) (*ecdh.PublicKey, error) {
	signer, err := t.generatePair(ctx, name, elliptic.P384(), false)
	if err != nil {
		return nil, err
	}
	return publicOf(signer, name)
}

// publicOf returns the public key of a crypto11 key pair as an ECDH key.
func publicOf(signer crypto11.Signer, name string) (*ecdh.PublicKey, error) {
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if ok && pub.Curve == elliptic.P256() {
		return nil, fmt.Errorf("%w: %q is a signing key, not an ECDH key", keystore.ErrKeyType, name)
	}
	if !ok || pub.Curve != elliptic.P384() {
		return nil, fmt.Errorf("%w: key %q is not a P-384 key", keystore.ErrCorrupt, name)
	}
	k, err := pub.ECDH()
	if err != nil {
		return nil, fmt.Errorf("%w: key %q: %v", keystore.ErrCorrupt, name, err)
	}
	return k, nil
}

// findPair returns the key pair named name (keystore.ErrNotFound).
func (t *Token) findPair(name string) (crypto11.Signer, error) {
	if err := keystore.CheckName(name); err != nil {
		return nil, err
	}
	pairs, err := t.c11.FindKeyPairs(nil, t.keyLabel(name))
	if err != nil {
		return nil, deviceError("find key "+name, err)
	}
	switch len(pairs) {
	case 0:
		return nil, fmt.Errorf("%w: %q", keystore.ErrNotFound, name)
	case 1:
		return pairs[0], nil
	}
	return nil, fmt.Errorf("%w: %d key pairs labelled %q", keystore.ErrCorrupt, len(pairs), name)
}

// openPair returns the key pair named name, found under the read lock
// (keystore.ErrLocked, keystore.ErrNotFound).
func (t *Token) openPair(ctx context.Context, name string) (crypto11.Signer, error) {
	if err := t.rlock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	return t.findPair(name)
}

// PublicKey implements keystore.Custody.
func (t *Token) PublicKey(ctx context.Context, name string) (*ecdh.PublicKey, error) {
	pair, err := t.openPair(ctx, name)
	if err != nil {
		return nil, err
	}
	return publicOf(pair, name)
}

// Delete implements keystore.Custody: both halves of the key pair are
// destroyed in the token.
func (t *Token) Delete(ctx context.Context, name string) error {
	if err := t.wlock(ctx); err != nil {
		return err
	}
	defer t.mu.Unlock()
	pair, err := t.findPair(name)
	if err != nil {
		return err
	}
	if err := pair.Delete(); err != nil {
		return deviceError("delete key "+name, err)
	}
	return nil
}

// Seal implements keystore.Custody exactly as keystore.Sealed does: version
// byte 1 ‖ 12-byte random nonce ‖ AES-256-GCM ciphertext and tag, with the
// version byte and aad as additional data; the AES key is the token's
// storage key (CKM_AES_GCM in the token). The nonce is chosen here (from
// crypto/rand), so the same 2³² blobs limit applies.
func (t *Token) Seal(ctx context.Context, plaintext, aad []byte) (out []byte, err error) {
	if err := t.rlock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	out = make([]byte, 0, SealOverhead+len(plaintext))
	out = append(append(out, sealVersion), nonce...)
	// crypto11's AEAD panics when the token fails; that is an error here.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: seal: %v", ErrDevice, r)
		}
	}()
	return t.gcm.Seal(out, nonce, plaintext, sealAAD(aad)), nil
}

// Open implements keystore.Custody. Every failure is keystore.ErrUnseal and
// says no more.
func (t *Token) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if err := t.rlock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	if len(sealed) < SealOverhead || sealed[0] != sealVersion {
		return nil, keystore.ErrUnseal
	}
	pt, err := t.gcm.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], sealAAD(aad))
	if err != nil {
		return nil, keystore.ErrUnseal
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

// ECDH implements keystore.Custody with CKM_ECDH1_DERIVE (CKD_NULL): the
// token derives the shared secret into a session object (not on the token,
// extractable, not sensitive), whose CKA_VALUE is read and which is then
// destroyed. The private key never leaves the token. crypto11 has no ECDH,
// so this uses the raw PKCS#11 handle on the same module.
func (t *Token) ECDH(ctx context.Context, name string, peer *ecdh.PublicKey) ([]byte, error) {
	if err := t.rlock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.RUnlock()
	if err := keystore.CheckName(name); err != nil {
		return nil, err
	}
	if peer == nil || peer.Curve() != ecdh.P384() {
		return nil, keystore.ErrPeer
	}
	sh, err := t.raw.OpenSession(t.slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, deviceError("open session", err)
	}
	defer t.raw.CloseSession(sh)
	priv, err := t.findPrivate(sh, name)
	if err != nil {
		return nil, err
	}
	return t.derive(sh, priv, peer, name)
}

// findPrivate returns the handle of the private key named name.
func (t *Token) findPrivate(sh p11.SessionHandle, name string) (p11.ObjectHandle, error) {
	return t.findOne(sh, p11.CKO_PRIVATE_KEY, t.keyLabel(name), "find key "+name,
		fmt.Errorf("%w: %q", keystore.ErrNotFound, name),
		fmt.Errorf("%w: several private keys labelled %q", keystore.ErrCorrupt, name))
}

// findOne returns the handle of the one object of class labelled label.
// op names the search in a device error; none is the error when there is
// no such object, several when there are more than one.
func (t *Token) findOne(sh p11.SessionHandle, class uint, label []byte, op string, none, several error) (p11.ObjectHandle, error) {
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, class),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	if err := t.raw.FindObjectsInit(sh, tmpl); err != nil {
		return 0, deviceError(op, err)
	}
	objs, _, err := t.raw.FindObjects(sh, 2)
	if ferr := t.raw.FindObjectsFinal(sh); err == nil {
		err = ferr
	}
	switch {
	case err != nil:
		return 0, deviceError(op, err)
	case len(objs) == 0:
		return 0, none
	case len(objs) > 1:
		return 0, several
	}
	return objs[0], nil
}

// sharedSize is the length of a P-384 shared secret (the x-coordinate).
const sharedSize = 48

// derive runs CKM_ECDH1_DERIVE of priv with peer into a session object,
// reads its value and destroys it.
func (t *Token) derive(sh p11.SessionHandle, priv p11.ObjectHandle, peer *ecdh.PublicKey, name string) ([]byte, error) {
	params := p11.NewECDH1DeriveParams(p11.CKD_NULL, nil, peer.Bytes())
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_ECDH1_DERIVE, params)}
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_VALUE_LEN, sharedSize),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_SENSITIVE, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
	}
	secret, err := t.raw.DeriveKey(sh, mech, priv, tmpl)
	if err != nil {
		// CKR_KEY_TYPE_INCONSISTENT and the like: nothing secret in it.
		return nil, deviceError("ECDH with key "+name, err)
	}
	defer t.raw.DestroyObject(sh, secret)
	attrs, err := t.raw.GetAttributeValue(sh, secret, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil {
		return nil, deviceError("read the shared secret of key "+name, err)
	}
	z := attrs[0].Value
	if len(z) != sharedSize {
		clear(z)
		return nil, fmt.Errorf("%w: ECDH with key %q gave %d bytes, want %d", ErrDevice, name, len(z), sharedSize)
	}
	return z, nil
}

// Config returns the configuration the custody was opened with.
func (t *Token) Config() Config { return t.cfg }

// Format implements fmt.Formatter: a Token prints as its module, token and
// namespace with every verb (there is nothing secret in it to show).
func (t *Token) Format(f fmt.State, _ rune) {
	if t == nil {
		fmt.Fprint(f, "pkcs11.Token(nil)")
		return
	}
	fmt.Fprintf(f, "pkcs11.Token{module: %q, token: %q, namespace: %q}", t.cfg.Module, t.cfg.TokenLabel, t.cfg.Namespace)
}

// generatePair generates a key pair on curve in the token under name, the
// private key on the token (CKA_TOKEN), private, sensitive and
// non-extractable, usable for signing only when sign is true and for
// derivation only otherwise. It fails with keystore.ErrExists when the name
// (or one differing only in case) is taken.
func (t *Token) generatePair(ctx context.Context, name string, curve elliptic.Curve, sign bool) (crypto11.Signer, error) {
	if err := t.wlock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := keystore.CheckName(name); err != nil {
		return nil, err
	}
	existing, err := t.c11.FindKeyPairs(t.keyID(name), nil)
	if err != nil {
		return nil, deviceError("find key "+name, err)
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("%w: %q (or a name differing only in case)", keystore.ErrExists, name)
	}
	pub, err := crypto11.NewAttributeSetWithIDAndLabel(t.keyID(name), t.keyLabel(name))
	if err != nil {
		return nil, deviceError("key template", err)
	}
	priv := pub.Copy()
	for attr, v := range map[crypto11.AttributeType]bool{p11.CKA_VERIFY: sign, p11.CKA_DERIVE: false} {
		err = errors.Join(err, pub.Set(attr, v))
	}
	for attr, v := range map[crypto11.AttributeType]bool{p11.CKA_PRIVATE: true, p11.CKA_SENSITIVE: true,
		p11.CKA_EXTRACTABLE: false, p11.CKA_DERIVE: !sign, p11.CKA_SIGN: sign} {
		err = errors.Join(err, priv.Set(attr, v))
	}
	if err != nil {
		return nil, deviceError("key template", err)
	}
	signer, err := t.c11.GenerateECDSAKeyPairWithAttributes(pub, priv, curve)
	if err != nil {
		return nil, deviceError("generate key "+name, err)
	}
	return signer, nil
}
