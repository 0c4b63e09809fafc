package keystore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Officers of a key custody: who may take part in its dual control, and how
// one of them is authenticated alone. A sealed store's officers are the
// holders of its components. A custody without components (a PKCS#11
// token, whose keys its own access control guards) keeps an officer
// registry beside it instead: officers.json, one passphrase verifier per
// officer — the keystore's Argon2id KDF and a known value sealed under the
// key it derives, bound to the registry's id and the officer's name, as
// components are — and the whole registry bound to the custody by a blob
// only that custody can seal (RegisterOfficers, CheckOfficerRegistry).
// StoreOfficers and VerifyOfficer read either: one API for both kinds.

// officersFileName is the officer registry of a custody without
// components, in the custody directory.
const officersFileName = "officers.json"

// formatOfficers names the registry's format.
const formatOfficers = "stskms-keystore-officers"

// maxOfficersSize bounds officers.json.
const maxOfficersSize = 64 << 10

// ErrNoOfficers: a custody directory holds neither a sealed store nor an
// officer registry, so no officer can be named or authenticated there.
var ErrNoOfficers = errors.New("keystore: no officers registered with this custody")

// verifierPlain is the known value each officer's verifier seals.
var verifierPlain = []byte("stskms-keystore officer verifier")

// StoreOfficers returns the officers of the custody in dir, in the order
// of their components (or of their registration): the people whose
// passphrases unlock a sealed store, or who are registered with a custody
// without components, and so the officers registered for its dual control.
// A directory with neither is ErrNoOfficers (wrapping ErrNoStore).
func StoreOfficers(dir string) ([]string, error) {
	m, err := readOfficers(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(m.comps))
	for i, c := range m.comps {
		names[i] = c.officer
	}
	return names, nil
}

// VerifyOfficer checks one officer's credential against the custody in dir
// without unlocking it: nil if the passphrase opens that officer's
// component (or registry verifier), else an *OfficerError
// (ErrUnknownOfficer, ErrBadPassphrase). It authenticates one officer of a
// dual-control step; it does not read or modify the passphrase (the caller
// clears it).
func VerifyOfficer(dir string, c Component) error {
	m, err := readOfficers(dir)
	if err != nil {
		return err
	}
	i := m.officer(c.Officer)
	if i < 0 {
		return &OfficerError{Officer: c.Officer, Err: ErrUnknownOfficer}
	}
	comp := m.comps[i]
	doSecret(func() {
		kek := deriveKEK(c.Passphrase, comp.salt, comp.kdf)
		var part []byte
		part, err = openWith(kek, comp.nonce, comp.sealed, m.aad(i, len(m.comps), comp.officer))
		if err == nil && m.registry && subtle.ConstantTimeCompare(part, verifierPlain) != 1 {
			err = ErrBadPassphrase
		}
		clear(kek)
		clear(part)
	})
	if err != nil {
		return &OfficerError{Officer: c.Officer, Err: ErrBadPassphrase}
	}
	return nil
}

// RegisterOfficers makes the officer registry of a custody without
// components (a PKCS#11 token) in dir, which must exist and hold neither a
// sealed store nor a registry (ErrStoreExists): one passphrase verifier per
// officer, under the rules of Init (ErrOfficers: 2 to MaxOfficers distinct
// names, passphrases of MinPassphraseLen bytes or more; DefaultKDF or
// WithKDF), bound to custody, which must be unlocked. It does not keep or
// modify the passphrases; the caller clears them.
func RegisterOfficers(ctx context.Context, dir string, custody Custody, officers []Component, opts ...Option) error {
	o, err := initOf(officers, opts)
	if err != nil {
		return err
	}
	for _, name := range []string{metaFileName, officersFileName} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s holds %s already", ErrStoreExists, dir, name)
		}
	}
	r := &officerSet{registry: true, id: randomBytes(storeIDSize)}
	n := len(officers)
	for i, of := range officers {
		c := component{officer: of.Officer, kdf: o.kdf, salt: randomBytes(saltSize), nonce: randomBytes(nonceSize)}
		var err error
		doSecret(func() {
			kek := deriveKEK(of.Passphrase, c.salt, o.kdf)
			c.sealed, err = sealWith(kek, c.nonce, verifierPlain, r.aad(i, n, of.Officer))
			clear(kek)
		})
		if err != nil {
			return err
		}
		r.comps = append(r.comps, c)
	}
	digest := sha256.Sum256(r.registryText())
	binding, err := custody.Seal(ctx, digest[:], registryBindingAAD(r.id))
	if err != nil {
		return fmt.Errorf("keystore: bind the officer registry to its custody: %w", err)
	}
	r.binding = binding
	data, err := r.marshalRegistry()
	if err != nil {
		return err
	}
	return writeFileAtomic(dir, officersFileName, data, nil)
}

// CheckOfficerRegistry checks that the officer registry in dir belongs to
// custody (unlocked): made by RegisterOfficers with it and not altered
// since. Otherwise ErrCorrupt (or ErrNoOfficers if there is none): a
// registry someone rewrote to name other officers does not pass. A sealed
// store's officers need no such check (Unlock authenticates them): for a
// directory holding one it returns nil.
func CheckOfficerRegistry(ctx context.Context, dir string, custody Custody) error {
	m, err := readOfficers(dir)
	if err != nil || !m.registry {
		return err
	}
	digest, err := custody.Open(ctx, m.binding, registryBindingAAD(m.id))
	if err != nil {
		return fmt.Errorf("%w: %s is not bound to this custody (altered, or from another one)", ErrCorrupt, officersFileName)
	}
	defer clear(digest)
	want := sha256.Sum256(m.registryText())
	if subtle.ConstantTimeCompare(digest, want[:]) != 1 {
		return fmt.Errorf("%w: %s was altered since its officers were registered", ErrCorrupt, officersFileName)
	}
	return nil
}

// registryBindingAAD binds the registry's digest, sealed by the custody,
// to the registry.
func registryBindingAAD(id []byte) []byte {
	return fmt.Appendf(nil, "%s v%d binding|%x", formatOfficers, formatVersion, id)
}

// officerSet is who a custody directory names as its officers: a sealed
// store's components, or a registry's verifiers.
type officerSet struct {
	comps    []component
	id       []byte // the store's or the registry's id
	registry bool   // officers.json rather than keystore.json
	binding  []byte // a registry's digest, sealed by its custody
}

// officer returns the index of the officer named name, or -1.
func (m *officerSet) officer(name string) int {
	for i, c := range m.comps {
		if c.officer == name {
			return i
		}
	}
	return -1
}

// aad is the additional data of officer i's component (a sealed store) or
// verifier (a registry).
func (m *officerSet) aad(i, n int, officer string) []byte {
	if m.registry {
		return fmt.Appendf(nil, "%s v%d verifier|%x|%d|%d|%s", formatOfficers, formatVersion, m.id, n, i, officer)
	}
	return componentAAD(m.id, i, n, officer)
}

// readOfficers reads the sealed store's metadata in dir, else its officer
// registry.
func readOfficers(dir string) (*officerSet, error) {
	m, err := readMeta(dir)
	if err == nil {
		return &officerSet{comps: m.comps, id: m.storeID}, nil
	}
	if !errors.Is(err, ErrNoStore) {
		return nil, err
	}
	data, err := readFileLimited(dir, officersFileName, maxOfficersSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%w): %s holds neither %s nor %s", ErrNoOfficers, ErrNoStore, dir, metaFileName, officersFileName)
	}
	if err != nil {
		return nil, err
	}
	return parseRegistry(data)
}

// registryJSON is officers.json as stored.
type registryJSON struct {
	Format     string          `json:"format"`
	Version    int             `json:"version"`
	RegistryID string          `json:"registry_id"`
	Officers   []componentJSON `json:"officers"`
	Binding    string          `json:"binding"`
}

// parseRegistry checks and decodes officers.json. Every failure is
// ErrCorrupt, ErrVersion or ErrKDFParams.
func parseRegistry(data []byte) (*officerSet, error) {
	var j registryJSON
	if err := decodeFile(data, officersFileName, formatOfficers, &j); err != nil {
		return nil, err
	}
	bad := corruptIn(officersFileName)
	m := &officerSet{registry: true}
	var ok bool
	if m.id, ok = decodeHex(j.RegistryID, storeIDSize); !ok {
		return nil, bad("registry_id")
	}
	if m.binding, ok = hexBlob(j.Binding); !ok {
		return nil, bad("binding")
	}
	if len(j.Officers) < 2 || len(j.Officers) > MaxOfficers {
		return nil, bad(fmt.Sprintf("%d officers, want 2 to %d", len(j.Officers), MaxOfficers))
	}
	for i, c := range j.Officers {
		mc, err := parseComponent(c, officersFileName, "officer "+strconv.Itoa(i), len(verifierPlain)+tagSize, m.comps)
		if err != nil {
			return nil, err
		}
		m.comps = append(m.comps, mc)
	}
	return m, nil
}

// hexBlob decodes a hex blob of 1 to 1024 bytes.
func hexBlob(s string) ([]byte, bool) {
	if len(s) == 0 || len(s) > 2048 || len(s)%2 != 0 {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// parseComponent checks one officer's entry of file (where names it) and
// decodes it; sealedLen is the sealed value's length with its tag, prev
// the entries before it (a name is not repeated, compared without case).
func parseComponent(c componentJSON, file, where string, sealedLen int, prev []component) (component, error) {
	bad := func(what string) error { return fmt.Errorf("%w: %s: %s: %s", ErrCorrupt, file, where, what) }
	if CheckName(c.Officer) != nil {
		return component{}, bad("officer name")
	}
	for _, p := range prev {
		if strings.EqualFold(p.officer, c.Officer) {
			return component{}, bad("officer repeated")
		}
	}
	if c.KDF != "argon2id" {
		return component{}, bad("kdf is not argon2id")
	}
	p := KDFParams{Time: c.Time, MemoryKiB: c.MemoryKiB, Threads: c.Threads}
	if err := p.checkLimits(); err != nil {
		return component{}, fmt.Errorf("%w: %s: %s: %w", ErrCorrupt, file, where, err)
	}
	mc := component{officer: c.Officer, kdf: p}
	var ok bool
	if mc.salt, ok = decodeHex(c.Salt, saltSize); !ok {
		return component{}, bad("salt")
	}
	if mc.nonce, ok = decodeHex(c.Nonce, nonceSize); !ok {
		return component{}, bad("nonce")
	}
	if mc.sealed, ok = decodeHex(c.Sealed, sealedLen); !ok {
		return component{}, bad("sealed")
	}
	return mc, nil
}

// marshalRegistry encodes a registry as officers.json.
func (m *officerSet) marshalRegistry() ([]byte, error) {
	j := registryJSON{Format: formatOfficers, Version: formatVersion, RegistryID: hex.EncodeToString(m.id),
		Binding: hex.EncodeToString(m.binding)}
	for _, c := range m.comps {
		j.Officers = append(j.Officers, componentJSON{Officer: c.officer, KDF: "argon2id", Time: c.kdf.Time,
			MemoryKiB: c.kdf.MemoryKiB, Threads: c.kdf.Threads, Salt: hex.EncodeToString(c.salt),
			Nonce: hex.EncodeToString(c.nonce), Sealed: hex.EncodeToString(c.sealed)})
	}
	out, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keystore: encode %s: %w", officersFileName, err)
	}
	return append(out, '\n'), nil
}

// registryText is what a registry's binding covers: its id and every
// officer's entry, one per line (names pass CheckName, everything else is
// hex or a number).
func (m *officerSet) registryText() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s v%d\nregistry_id=%x\nofficers=%d\n", formatOfficers, formatVersion, m.id, len(m.comps))
	for i, c := range m.comps {
		fmt.Fprintf(&b, "officer=%d name=%s kdf=argon2id t=%d m=%d p=%d salt=%x nonce=%x sealed=%x\n",
			i, c.officer, c.kdf.Time, c.kdf.MemoryKiB, c.kdf.Threads, c.salt, c.nonce, c.sealed)
	}
	return b.Bytes()
}
