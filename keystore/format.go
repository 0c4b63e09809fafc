package keystore

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/stskms/stskms/internal/strictjson"
)

// Format identifiers and versions of the store files.
const (
	formatStore   = "stskms-keystore"
	formatKey     = "stskms-keystore-key"
	formatTest    = "stskms-keystore-TEST-ONLY-unlock"
	formatVersion = 1

	modeProduction = "production"
	modeTest       = "test"

	keyTypeP384     = "ecdh-p384"  // an ECDH key pair (GenerateECDH)
	keyTypeP256Sign = "ecdsa-p256" // a signing key pair (GenerateSigner)

	storeIDSize = 16
	kcvSize     = 3
	macSize     = 32
	scalarSize  = 48 // P-384 private scalar
	pubSize     = 97 // uncompressed P-384 point
)

// metaJSON is keystore.json as stored. Binary values are lower-case hex.
type metaJSON struct {
	Format     string          `json:"format"`
	Version    int             `json:"version"`
	Mode       string          `json:"mode"`
	StoreID    string          `json:"store_id"`
	KCV        string          `json:"kcv"`
	Components []componentJSON `json:"components"`
	MAC        string          `json:"mac"`
}

type componentJSON struct {
	Officer   string `json:"officer"`
	KDF       string `json:"kdf"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      string `json:"salt"`
	Nonce     string `json:"nonce"`
	Sealed    string `json:"sealed"`
}

// meta is keystore.json checked and decoded.
type meta struct {
	test    bool
	storeID []byte
	kcv     []byte
	mac     []byte
	comps   []component
}

// component is one officer's encrypted component of the storage key.
type component struct {
	officer string
	kdf     KDFParams
	salt    []byte
	nonce   []byte
	sealed  []byte // AES-256-GCM of the 32-byte component, tag included
}

// decodeStrict decodes data as exactly one JSON object into v, refusing
// unknown fields and trailing data. Its errors say only where decoding
// failed, never what the data held.
func decodeStrict(data []byte, v any) error {
	err := strictjson.Unmarshal(data, v)
	var se *strictjson.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Member != "":
		// A member's name, never its value.
		return fmt.Errorf("not the expected JSON object: member %.64q refused (given twice, unknown, misnamed or of the wrong type)", se.Member)
	}
	return errors.New("not the expected JSON object (exactly one, each member once)")
}

// probeVersion reads the format and version of a store file before the
// strict decoding, so that a newer file is ErrVersion rather than
// ErrCorrupt.
func probeVersion(data []byte, file, wantFormat string) error {
	var probe struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return fmt.Errorf("%w: %s is not JSON", ErrCorrupt, file)
	}
	if probe.Format != wantFormat {
		return fmt.Errorf("%w: %s: format is not %q", ErrCorrupt, file, wantFormat)
	}
	if probe.Version != formatVersion {
		return fmt.Errorf("%w: %s: version %d, this code reads %d", ErrVersion, file, probe.Version, formatVersion)
	}
	return nil
}

// decodeFile decodes data, the content of the store file named file, of
// format wantFormat, strictly into v: ErrVersion for another version,
// ErrCorrupt for anything else amiss (see probeVersion, decodeStrict).
func decodeFile(data []byte, file, wantFormat string, v any) error {
	if err := probeVersion(data, file, wantFormat); err != nil {
		return err
	}
	if err := decodeStrict(data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, file, err)
	}
	return nil
}

// corruptIn returns a maker of the ErrCorrupt of the store file named
// file, saying what is wrong in it.
func corruptIn(file string) func(what string) error {
	return func(what string) error { return fmt.Errorf("%w: %s: %s", ErrCorrupt, file, what) }
}

// decodeHex decodes s into exactly n bytes.
func decodeHex(s string, n int) ([]byte, bool) {
	if len(s) != 2*n {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// parseMeta checks and decodes keystore.json. Every failure is ErrCorrupt,
// ErrVersion or ErrKDFParams; nothing in it is secret, but nothing from it
// is echoed either beyond field names and numbers.
func parseMeta(data []byte) (*meta, error) {
	if len(data) > maxMetaSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, metaFileName, maxMetaSize)
	}
	var j metaJSON
	if err := decodeFile(data, metaFileName, formatStore, &j); err != nil {
		return nil, err
	}
	bad := corruptIn(metaFileName)
	m := &meta{}
	switch j.Mode {
	case modeProduction:
	case modeTest:
		m.test = true
	default:
		return nil, bad("unknown mode")
	}
	var ok bool
	if m.storeID, ok = decodeHex(j.StoreID, storeIDSize); !ok {
		return nil, bad("store_id")
	}
	if m.kcv, ok = decodeHex(j.KCV, kcvSize); !ok {
		return nil, bad("kcv")
	}
	if m.mac, ok = decodeHex(j.MAC, macSize); !ok {
		return nil, bad("mac")
	}
	if len(j.Components) < 2 || len(j.Components) > MaxOfficers {
		return nil, bad(fmt.Sprintf("%d components, want 2 to %d", len(j.Components), MaxOfficers))
	}
	for i, c := range j.Components {
		mc, err := parseComponent(c, metaFileName, "component "+strconv.Itoa(i), keySize+tagSize, m.comps)
		if err != nil {
			return nil, err
		}
		m.comps = append(m.comps, mc)
	}
	return m, nil
}

// marshal encodes m as keystore.json.
func (m *meta) marshal() ([]byte, error) {
	j := metaJSON{
		Format:  formatStore,
		Version: formatVersion,
		Mode:    m.mode(),
		StoreID: hex.EncodeToString(m.storeID),
		KCV:     hex.EncodeToString(m.kcv),
		MAC:     hex.EncodeToString(m.mac),
	}
	for _, c := range m.comps {
		j.Components = append(j.Components, componentJSON{
			Officer:   c.officer,
			KDF:       "argon2id",
			Time:      c.kdf.Time,
			MemoryKiB: c.kdf.MemoryKiB,
			Threads:   c.kdf.Threads,
			Salt:      hex.EncodeToString(c.salt),
			Nonce:     hex.EncodeToString(c.nonce),
			Sealed:    hex.EncodeToString(c.sealed),
		})
	}
	out, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keystore: encode %s: %w", metaFileName, err)
	}
	return append(out, '\n'), nil
}

func (m *meta) mode() string {
	if m.test {
		return modeTest
	}
	return modeProduction
}

// authenticated is the text the metadata HMAC covers: every field but the
// MAC, one per line. Officer names pass CheckName and everything else is
// hex or a number, so the encoding is unambiguous.
func (m *meta) authenticated() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s v%d metadata\nmode=%s\nstore_id=%x\nkcv=%x\ncomponents=%d\n",
		formatStore, formatVersion, m.mode(), m.storeID, m.kcv, len(m.comps))
	for i, c := range m.comps {
		fmt.Fprintf(&b, "component=%d officer=%s kdf=argon2id t=%d m=%d p=%d salt=%x nonce=%x sealed=%x\n",
			i, c.officer, c.kdf.Time, c.kdf.MemoryKiB, c.kdf.Threads, c.salt, c.nonce, c.sealed)
	}
	return b.Bytes()
}

// componentAAD binds component i to its store, its position and its
// officer, so components cannot be moved between officers or stores.
func componentAAD(storeID []byte, i, n int, officer string) []byte {
	return fmt.Appendf(nil, "%s v%d component|%x|%d|%d|%s", formatStore, formatVersion, storeID, n, i, officer)
}

// keyJSON is NAME.key as stored.
type keyJSON struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Public  string `json:"public"`
	Nonce   string `json:"nonce"`
	Sealed  string `json:"sealed"`
}

// keyFile is NAME.key checked and decoded (not yet authenticated).
type keyFile struct {
	name   string
	typ    string          // keyTypeP384 or keyTypeP256Sign
	pub    *ecdh.PublicKey // a P-256 signing key's point too
	nonce  []byte
	sealed []byte // AES-256-GCM of the scalar, tag included
}

// keyCurve returns the curve of a key type and the sizes of its
// uncompressed public point and private scalar (ok false: unknown type).
func keyCurve(typ string) (curve ecdh.Curve, pub, scalar int, ok bool) {
	switch typ {
	case keyTypeP384:
		return ecdh.P384(), pubSize, scalarSize, true
	case keyTypeP256Sign:
		return ecdh.P256(), 65, 32, true
	}
	return nil, 0, 0, false
}

// parseKeyFile checks and decodes the file of key name.
func parseKeyFile(name string, data []byte) (*keyFile, error) {
	file := name + keyFileExt
	var j keyJSON
	if err := decodeFile(data, file, formatKey, &j); err != nil {
		return nil, err
	}
	bad := corruptIn(file)
	if j.Name != name {
		return nil, bad("name does not match the file name")
	}
	curve, pubLen, scalarLen, ok := keyCurve(j.Type)
	if !ok {
		return nil, bad("unknown key type")
	}
	kf := &keyFile{name: name, typ: j.Type}
	pub, ok := decodeHex(j.Public, pubLen)
	if !ok {
		return nil, bad("public")
	}
	var err error
	if kf.pub, err = curve.NewPublicKey(pub); err != nil {
		return nil, bad("public key not on the curve of its type")
	}
	if kf.nonce, ok = decodeHex(j.Nonce, nonceSize); !ok {
		return nil, bad("nonce")
	}
	if kf.sealed, ok = decodeHex(j.Sealed, scalarLen+tagSize); !ok {
		return nil, bad("sealed")
	}
	return kf, nil
}

// marshal encodes kf as NAME.key.
func (kf *keyFile) marshal() ([]byte, error) {
	out, err := json.MarshalIndent(keyJSON{
		Format:  formatKey,
		Version: formatVersion,
		Name:    kf.name,
		Type:    kf.typ,
		Public:  hex.EncodeToString(kf.pub.Bytes()),
		Nonce:   hex.EncodeToString(kf.nonce),
		Sealed:  hex.EncodeToString(kf.sealed),
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keystore: encode key file: %w", err)
	}
	return append(out, '\n'), nil
}

// keyAAD binds a sealed private scalar to its store, its type, its name
// and its public key: a key file renamed, copied over another, retyped or
// taken from another store fails to open.
func keyAAD(storeID []byte, typ, name string, pub *ecdh.PublicKey) []byte {
	return fmt.Appendf(nil, "%s v%d key|%x|%s|%s|%x", formatStore, formatVersion, storeID, typ, name, pub.Bytes())
}

// testJSON is TEST-ONLY-unlock.json.
type testJSON struct {
	Warning  string        `json:"warning"`
	Format   string        `json:"format"`
	Version  int           `json:"version"`
	StoreID  string        `json:"store_id"`
	Officers []testOfficer `json:"officers"`
}

type testOfficer struct {
	Officer    string `json:"officer"`
	Passphrase string `json:"passphrase"`
}

// testWarning heads the TEST-ONLY unlock file.
const testWarning = "TEST ONLY. This file holds the passphrases that unlock the key store in this directory: " +
	"whoever reads it holds every key in the store. Never use a test store for live keys."

// parseTestFile checks TEST-ONLY-unlock.json against the store id and
// returns the credentials it holds. Errors never quote the file.
func parseTestFile(data []byte, storeID []byte) ([]Component, error) {
	var j testJSON
	if err := decodeFile(data, testFileName, formatTest, &j); err != nil {
		return nil, err
	}
	if id, ok := decodeHex(j.StoreID, storeIDSize); !ok || !bytes.Equal(id, storeID) {
		return nil, fmt.Errorf("%w: %s belongs to another store", ErrCorrupt, testFileName)
	}
	creds := make([]Component, len(j.Officers))
	for i, o := range j.Officers {
		creds[i] = Component{Officer: o.Officer, Passphrase: []byte(o.Passphrase)}
	}
	return creds, nil
}
