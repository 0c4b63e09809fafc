package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Signer signs checkpoints: a key of the component's custody, seen
// through [golang.org/x/mod/sumdb/note.Signer]. Name is the key's name in
// signature lines, KeyHash its key ID, Sign returns the signature of a
// checkpoint's text (without the key ID, which note adds).
type Signer interface {
	Name() string
	KeyHash() uint32
	Sign(msg []byte) ([]byte, error)
}

// algECDSA is the signature type of ECDSA in C2SP signed-note.
const algECDSA = 0x02

// ecdsaKey is an ECDSA P-256 public key with its name and key ID.
type ecdsaKey struct {
	name string
	hash uint32
	pub  *ecdsa.PublicKey
}

func newECDSAKey(name string, pub *ecdsa.PublicKey) (*ecdsaKey, []byte, error) {
	if !validKeyName(name) {
		return nil, nil, fmt.Errorf("audit: key name %.64q: want non-empty, without spaces or '+'", name)
	}
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, nil, errors.New("audit: the audit key must be an ECDSA P-256 key")
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: audit key: %w", err)
	}
	sum := sha256.Sum256(spki)
	return &ecdsaKey{name: name, hash: binary.BigEndian.Uint32(sum[:4]), pub: pub}, spki, nil
}

func validKeyName(name string) bool {
	return name != "" && len(name) <= 256 && strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '+'
	}) < 0
}

// Name implements note.Verifier and Signer.
func (k *ecdsaKey) Name() string { return k.name }

// KeyHash implements note.Verifier and Signer.
func (k *ecdsaKey) KeyHash() uint32 { return k.hash }

// Verify implements note.Verifier: sig is an ASN.1 ECDSA signature of the
// SHA-256 hash of msg.
func (k *ecdsaKey) Verify(msg, sig []byte) bool {
	d := sha256.Sum256(msg)
	return ecdsa.VerifyASN1(k.pub, d[:], sig)
}

// ecdsaSigner is a Signer over a crypto.Signer of custody.
type ecdsaSigner struct {
	*ecdsaKey
	key crypto.Signer
}

// Sign implements Signer.
func (s *ecdsaSigner) Sign(msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	sig, err := s.key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("audit: failed to sign the checkpoint: %w", err)
	}
	if !s.Verify(msg, sig) {
		return nil, errors.New("audit: the audit key made a signature that does not verify")
	}
	return sig, nil
}

// NewECDSASigner returns the Signer named name of key, an ECDSA P-256 key
// whose Sign takes a SHA-256 digest and returns an ASN.1 signature (as
// *ecdsa.PrivateKey and crypto11's keys do). Signatures are C2SP
// signed-note type 0x02: the key ID is the first four bytes of the SHA-256
// of the public key in SubjectPublicKeyInfo DER.
func NewECDSASigner(name string, key crypto.Signer) (Signer, error) {
	pub, _ := key.Public().(*ecdsa.PublicKey)
	k, _, err := newECDSAKey(name, pub)
	if err != nil {
		return nil, err
	}
	return &ecdsaSigner{k, key}, nil
}

// VerifierKey returns the note verifier key of the ECDSA P-256 public key
// pub named name: name+KEYID+base64(0x02 ‖ SubjectPublicKeyInfo DER), KEYID
// being the key ID in 8 hexadecimal digits.
func VerifierKey(name string, pub *ecdsa.PublicKey) (string, error) {
	k, spki, err := newECDSAKey(name, pub)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s+%08x+%s", name, k.hash, base64.StdEncoding.EncodeToString(append([]byte{algECDSA}, spki...))), nil
}

// ErrVerifierKey is matched by the error of a malformed verifier key.
var ErrVerifierKey = errors.New("audit: malformed verifier key")

// NewVerifier parses a verifier key made by VerifierKey.
func NewVerifier(vkey string) (note.Verifier, error) {
	vkey = strings.TrimSpace(vkey)
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || len(parts[1]) != 8 {
		return nil, fmt.Errorf("%w: want NAME+KEYID+BASE64", ErrVerifierKey)
	}
	id, err1 := strconv.ParseUint(parts[1], 16, 32)
	raw, err2 := base64.StdEncoding.Strict().DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(raw) < 2 {
		return nil, fmt.Errorf("%w: bad key ID or base64", ErrVerifierKey)
	}
	if raw[0] != algECDSA {
		return nil, fmt.Errorf("%w: signature type %#02x, want %#02x (ECDSA)", ErrVerifierKey, raw[0], algECDSA)
	}
	pk, err := x509.ParsePKIXPublicKey(raw[1:])
	pub, ok := pk.(*ecdsa.PublicKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: not an ECDSA public key", ErrVerifierKey)
	}
	k, _, err := newECDSAKey(parts[0], pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerifierKey, err)
	}
	if uint64(k.hash) != id {
		return nil, fmt.Errorf("%w: key ID %s is not the key's (%08x)", ErrVerifierKey, parts[1], k.hash)
	}
	return k, nil
}

// Checkpoint is the signed statement of a log's tree (C2SP
// tlog-checkpoint): the log's origin, its size in records and its tree's
// root hash.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   [32]byte
}

// Text returns the checkpoint's note text: the origin, the size in
// decimal and the root in base64, each on a line.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// maxCheckpoint bounds a signed checkpoint, in bytes.
const maxCheckpoint = 4 << 10

// parseCheckpoint parses the text of a checkpoint. Extension lines are
// refused: this log writes none.
func parseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, errors.New("not three lines: origin, size, root hash")
	}
	c := Checkpoint{Origin: lines[0]}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, errors.New("the size is not a decimal number")
	}
	c.Size = n
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != len(c.Root) {
		return Checkpoint{}, errors.New("the root hash is not 32 bytes in base64")
	}
	copy(c.Root[:], root)
	if c.Origin == "" {
		return Checkpoint{}, errors.New("the origin is empty")
	}
	return c, nil
}

// CheckpointKind is why a checkpoint is refused.
type CheckpointKind int

// The kinds of CheckpointError.
const (
	// BadCheckpoint: malformed, of another log, or its signature does not
	// verify with the audit key (forged or altered).
	BadCheckpoint CheckpointKind = iota + 1
	// RolledBack: the log is shorter than the checkpoint: records were
	// removed since it was signed.
	RolledBack
	// Forked: the log is not an extension of the checkpoint: records it
	// covered were changed or removed, and the log grown again.
	Forked
)

// Sentinels matched by a *CheckpointError of the corresponding kind.
var (
	ErrBadCheckpoint = errors.New("audit: checkpoint refused")
	ErrRolledBack    = errors.New("audit: log shorter than a checkpoint (rolled back)")
	ErrForked        = errors.New("audit: log is not an extension of a checkpoint (forked)")
)

// String returns "bad checkpoint", "rolled back" or "forked".
func (k CheckpointKind) String() string {
	switch k {
	case BadCheckpoint:
		return "bad checkpoint"
	case RolledBack:
		return "rolled back"
	case Forked:
		return "forked"
	}
	return fmt.Sprintf("CheckpointKind(%d)", int(k))
}

// CheckpointError reports a checkpoint the log does not extend, or that
// is not to be trusted. errors.Is(err, ErrForked) holds for kind Forked,
// and so on.
type CheckpointError struct {
	Size   int64 // the checkpoint's size, if it was read
	Kind   CheckpointKind
	Reason string
}

// Error says which checkpoint and what is wrong.
func (e *CheckpointError) Error() string {
	return fmt.Sprintf("audit: checkpoint of %d records: %v: %s", e.Size, e.Kind, e.Reason)
}

// Unwrap returns the sentinel of e's kind.
func (e *CheckpointError) Unwrap() error {
	switch e.Kind {
	case BadCheckpoint:
		return ErrBadCheckpoint
	case RolledBack:
		return ErrRolledBack
	case Forked:
		return ErrForked
	}
	return nil
}

// OpenCheckpoint checks the signature of a signed checkpoint with v and
// parses it. Any failure is a *CheckpointError of kind BadCheckpoint.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	bad := func(format string, a ...any) error {
		return &CheckpointError{Kind: BadCheckpoint, Reason: fmt.Sprintf(format, a...)}
	}
	if len(signed) > maxCheckpoint {
		return Checkpoint{}, bad("more than %d bytes", maxCheckpoint)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	var invalid *note.InvalidSignatureError
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &invalid):
		return Checkpoint{}, bad("the signature by %s does not verify (forged or altered)", v.Name())
	case errors.As(err, &unverified):
		return Checkpoint{}, bad("not signed by the audit key %s+%08x", v.Name(), v.KeyHash())
	case err != nil:
		return Checkpoint{}, bad("not a signed note: %v", err)
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, bad("%v", err)
	}
	return c, nil
}

// signCheckpoint signs c with s.
func signCheckpoint(c Checkpoint, s Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// checkExtends checks that the tree of n records with root root, whose
// stored hashes r reads, extends c (a consistency proof).
func checkExtends(c Checkpoint, n int64, root tlog.Hash, r tlog.HashReader) error {
	switch {
	case c.Size > n:
		return &CheckpointError{Size: c.Size, Kind: RolledBack,
			Reason: fmt.Sprintf("the log has %d records, the checkpoint %d: records were removed", n, c.Size)}
	case c.Size == n && root != tlog.Hash(c.Root):
		return &CheckpointError{Size: c.Size, Kind: Forked, Reason: "the log's root hash at this size is not the checkpoint's"}
	case c.Size == n:
		return nil
	}
	p, err := tlog.ProveTree(n, c.Size, r)
	if err != nil {
		return err
	}
	if tlog.CheckTree(p, n, root, c.Size, tlog.Hash(c.Root)) != nil {
		return &CheckpointError{Size: c.Size, Kind: Forked,
			Reason: fmt.Sprintf("the first %d records of the log are not those the checkpoint signed", c.Size)}
	}
	return nil
}

// origin returns the origin line of the checkpoints of the log with id id.
func origin(id [16]byte) string { return "stskms/audit/" + hex.EncodeToString(id[:]) }

// trimNote returns signed without leading blank space, as read from a
// file or a column.
func trimNote(signed []byte) []byte { return bytes.TrimLeft(signed, " \t\r\n") }
