package release

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A release manifest (docs/release.md) is text, one item a line, each
// line ending in "\n":
//
//	stskms-release-manifest/1
//	version v1.2.3
//	key 3f1c0e9a4b7d2c55
//	sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 stskms-linux-amd64
//	…
//	signature BASE64
//
// "key" is the ID of the release key; one "sha256" line per binary
// (lowercase hex, then the file's base name); "signature" is the Ed25519
// signature, in standard base64, of every byte before it (the header line
// through the last sha256 line, newlines included).
const manifestTag = "stskms-release-manifest/1"

// Limits of a manifest.
const (
	maxManifest = 1 << 20
	maxFiles    = 1000
	maxNameLen  = 255
)

// ErrManifest marks a manifest that is malformed or whose signature does
// not verify; ErrNotListed a binary the manifest does not list or lists
// with another hash.
var (
	ErrManifest  = errors.New("release: bad manifest")
	ErrNotListed = errors.New("release: binary not in the manifest")
)

// Manifest is a release: its version and the SHA-256 of each binary.
type Manifest struct {
	Version string
	// KeyID is the ID of the release key that signed it.
	KeyID string
	Files []File
}

// File is one binary of a release.
type File struct {
	Name   string
	SHA256 [sha256.Size]byte
}

// Hash returns the SHA-256 of what r reads.
func Hash(r io.Reader) ([sha256.Size]byte, error) {
	h := sha256.New()
	var sum [sha256.Size]byte
	if _, err := io.Copy(h, r); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

// HashFile returns the SHA-256 of the file at path.
func HashFile(path string) ([sha256.Size]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	defer f.Close()
	return Hash(f)
}

// body returns the signed part of the manifest, checking its fields.
func (m *Manifest) body() ([]byte, error) {
	if err := CheckVersion(m.Version); err != nil {
		return nil, fmt.Errorf("%w: version: %w", ErrManifest, err)
	}
	if len(m.Files) == 0 || len(m.Files) > maxFiles {
		return nil, fmt.Errorf("%w: %d binaries (1 to %d)", ErrManifest, len(m.Files), maxFiles)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nversion %s\nkey %s\n", manifestTag, m.Version, m.KeyID)
	seen := map[string]bool{}
	for _, f := range m.Files {
		if err := checkName(f.Name); err != nil {
			return nil, err
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("%w: %q listed twice", ErrManifest, f.Name)
		}
		seen[f.Name] = true
		fmt.Fprintf(&b, "sha256 %x %s\n", f.SHA256, f.Name)
	}
	return b.Bytes(), nil
}

func checkName(name string) error {
	if name == "" || len(name) > maxNameLen || name == "." || name == ".." ||
		strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == '/' || r == '\\' || r == 0x7f }) {
		return fmt.Errorf("%w: binary name %q: want a base name without spaces", ErrManifest, trunc(name))
	}
	return nil
}

// Sign returns the manifest signed with key.
func Sign(m Manifest, key PrivateKey) ([]byte, error) {
	m.KeyID = key.Public().ID()
	body, err := m.body()
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key.k, body)
	return append(body, "signature "+base64.StdEncoding.EncodeToString(sig)+"\n"...), nil
}

// ParseManifest parses a signed manifest and verifies its signature with
// pub: ErrManifest if it is malformed, signed by another key, or its
// signature does not verify.
func ParseManifest(data []byte, pub PublicKey) (*Manifest, error) {
	if len(data) > maxManifest {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrManifest, maxManifest)
	}
	i := bytes.LastIndex(data, []byte("\nsignature "))
	if i < 0 || !bytes.HasSuffix(data, []byte("\n")) {
		return nil, fmt.Errorf("%w: no signature line at the end", ErrManifest)
	}
	body, sigLine := data[:i+1], data[i+len("\nsignature "):len(data)-1]
	m, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	if m.KeyID != pub.ID() {
		return nil, fmt.Errorf("%w: signed by release key %s, not by %s", ErrManifest, trunc(m.KeyID), pub.ID())
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(string(sigLine))
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub.k, body, sig) {
		return nil, fmt.Errorf("%w: the signature does not verify with release key %s", ErrManifest, pub.ID())
	}
	return m, nil
}

// parseBody parses the signed part, which must be exactly what body
// writes (so that one manifest has one spelling).
func parseBody(body []byte) (*Manifest, error) {
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) < 4 || lines[0] != manifestTag {
		return nil, fmt.Errorf("%w: not a %s", ErrManifest, manifestTag)
	}
	m := &Manifest{}
	var ok bool
	if m.Version, ok = strings.CutPrefix(lines[1], "version "); !ok {
		return nil, fmt.Errorf("%w: line 2: want \"version vX.Y.Z\"", ErrManifest)
	}
	if m.KeyID, ok = strings.CutPrefix(lines[2], "key "); !ok {
		return nil, fmt.Errorf("%w: line 3: want \"key ID\"", ErrManifest)
	}
	for n, line := range lines[3:] {
		f, err := parseFileLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrManifest, n+4, err)
		}
		m.Files = append(m.Files, f)
	}
	again, err := m.body()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, body) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrManifest)
	}
	return m, nil
}

func parseFileLine(line string) (File, error) {
	var f File
	rest, ok := strings.CutPrefix(line, "sha256 ")
	sum, name, ok2 := strings.Cut(rest, " ")
	if !ok || !ok2 || len(sum) != 2*sha256.Size {
		return f, errors.New(`want "sha256 HEX NAME"`)
	}
	if _, err := hex.Decode(f.SHA256[:], []byte(sum)); err != nil || strings.ToLower(sum) != sum {
		return f, errors.New("want the SHA-256 in lowercase hexadecimal")
	}
	f.Name = name
	return f, nil
}

// Lookup returns the file of the manifest whose hash is sum.
func (m *Manifest) Lookup(sum [sha256.Size]byte) (File, bool) {
	for _, f := range m.Files {
		if f.SHA256 == sum {
			return f, true
		}
	}
	return File{}, false
}

// CheckFile checks the binary at path against the manifest's entry of the
// same base name (ErrNotListed if there is none or its hash differs).
func (m *Manifest) CheckFile(path string) error {
	name := filepath.Base(path)
	sum, err := HashFile(path)
	if err != nil {
		return err
	}
	for _, f := range m.Files {
		if f.Name != name {
			continue
		}
		if f.SHA256 != sum {
			return fmt.Errorf("%w: %s has SHA-256 %x, the manifest of %s lists %x", ErrNotListed, path, sum, m.Version, f.SHA256)
		}
		return nil
	}
	return fmt.Errorf("%w: the manifest of %s lists no %q", ErrNotListed, m.Version, name)
}
