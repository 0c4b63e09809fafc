package release

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stskms/stskms/internal/secretfile"
)

// Release keys are Ed25519 (RFC 8032, crypto/ed25519). A release key is an
// offline signing key of whoever publishes releases, not a key of any
// module or KMC: it stays off the production machines, which hold only its
// public half.
//
// The private key file is one line, "stskms-release-private-key/1 " and
// the base64 of the 32-byte seed (mode 0600); the public key file is one
// line, "stskms-release-public-key/1 " and the base64 of the 32-byte
// public key.
const (
	privateKeyTag = "stskms-release-private-key/1"
	publicKeyTag  = "stskms-release-public-key/1"
)

// ErrKey marks a key file that cannot be used.
var ErrKey = errors.New("release: bad key")

// PrivateKey is a release signing key.
type PrivateKey struct{ k ed25519.PrivateKey }

// PublicKey is the verifier of a release key.
type PublicKey struct{ k ed25519.PublicKey }

// GenerateKey makes a new release key.
func GenerateKey() (PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return PrivateKey{}, err
	}
	return PrivateKey{k}, nil
}

// Public returns the key's public half.
func (k PrivateKey) Public() PublicKey { return PublicKey{k.k.Public().(ed25519.PublicKey)} }

// ID names the key: the first 8 bytes of the SHA-256 of the public key,
// in hexadecimal.
func (k PublicKey) ID() string {
	sum := sha256.Sum256(k.k)
	return hex.EncodeToString(sum[:8])
}

// MarshalPrivateKey returns the content of a private key file. The caller
// clears it after writing it.
func MarshalPrivateKey(k PrivateKey) []byte {
	return []byte(privateKeyTag + " " + base64.StdEncoding.EncodeToString(k.k.Seed()) + "\n")
}

// MarshalPublicKey returns the content of a public key file.
func MarshalPublicKey(k PublicKey) []byte {
	return []byte(publicKeyTag + " " + base64.StdEncoding.EncodeToString(k.k) + "\n")
}

// ParsePrivateKey parses a private key file's content.
func ParsePrivateKey(data []byte) (PrivateKey, error) {
	seed, err := parseKeyLine(data, privateKeyTag, ed25519.SeedSize)
	if err != nil {
		return PrivateKey{}, err
	}
	defer clear(seed)
	return PrivateKey{ed25519.NewKeyFromSeed(seed)}, nil
}

// ParsePublicKey parses a public key file's content.
func ParsePublicKey(data []byte) (PublicKey, error) {
	pub, err := parseKeyLine(data, publicKeyTag, ed25519.PublicKeySize)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{ed25519.PublicKey(pub)}, nil
}

func parseKeyLine(data []byte, tag string, size int) ([]byte, error) {
	line := bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	rest, ok := bytes.CutPrefix(line, []byte(tag+" "))
	if !ok {
		return nil, fmt.Errorf("%w: not a %s file", ErrKey, tag)
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(rest)))
	n, err := base64.StdEncoding.Strict().Decode(key, rest)
	if err != nil || n != size {
		clear(key)
		return nil, fmt.Errorf("%w: want the base64 of %d bytes after %q", ErrKey, size, tag)
	}
	return key[:n], nil
}

// maxKeyFile bounds a key file.
const maxKeyFile = 4096

// ReadPrivateKey reads a private key file, which must not be readable by
// group or others.
func ReadPrivateKey(path string) (PrivateKey, error) {
	if err := secretfile.Check(path); err != nil {
		return PrivateKey{}, fmt.Errorf("release key: %w", err)
	}
	data, err := readSmall(path, maxKeyFile)
	if err != nil {
		return PrivateKey{}, err
	}
	defer clear(data)
	k, err := ParsePrivateKey(data)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadPublicKey reads a public key file.
func ReadPublicKey(path string) (PublicKey, error) {
	data, err := readSmall(path, maxKeyFile)
	if err != nil {
		return PublicKey{}, err
	}
	k, err := ParsePublicKey(data)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// readSmall reads a file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}
