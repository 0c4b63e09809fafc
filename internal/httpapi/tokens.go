package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/stskms/stskms/internal/secretfile"
	"github.com/stskms/stskms/internal/strictjson"
)

// TokenEntry is one bearer token of a token file and the caller it
// authenticates.
type TokenEntry struct {
	Token string `json:"token"`
	Role  string `json:"role"` // a role name of the API's role model
	Name  string `json:"name"` // for the audit log
}

// TokenFile is the content of a token file: a format name, the TEST-ONLY
// flag and warning, and the tokens.
type TokenFile struct {
	Format   string       `json:"format"`
	TestOnly bool         `json:"test_only"`
	Warning  string       `json:"warning,omitempty"`
	Tokens   []TokenEntry `json:"tokens"`
}

// MinTokenLen is the shortest token accepted in a token file.
const MinTokenLen = 20

// ErrNoTokens is returned by LoadTokenFile when there is no token file.
var ErrNoTokens = errors.New("no API token file")

// Tokens maps bearer tokens to the callers (actors of type A) they
// authenticate. The tokens are held as SHA-256 hashes, so a lookup
// compares no secret byte by byte and takes the same time whichever
// token, right or wrong, is presented.
type Tokens[A any] struct {
	actors map[[32]byte]A
	// TestOnly is the file's TEST-ONLY flag.
	TestOnly bool
	// Entries are the tokens as read, for tests and tools.
	Entries []TokenEntry
}

// NewTokens checks the tokens of f (each at least MinTokenLen long, none
// twice) and maps each to the actor that actor(role, name) makes of its
// role and name.
func NewTokens[A any](f TokenFile, actor func(role, name string) (A, error)) (*Tokens[A], error) {
	t := &Tokens[A]{actors: map[[32]byte]A{}, TestOnly: f.TestOnly, Entries: f.Tokens}
	for i, e := range f.Tokens {
		if len(e.Token) < MinTokenLen {
			return nil, fmt.Errorf("token file: token %d is shorter than %d characters", i+1, MinTokenLen)
		}
		a, err := actor(e.Role, e.Name)
		if err != nil {
			return nil, fmt.Errorf("token file: token %d: %w", i+1, err)
		}
		h := sha256.Sum256([]byte(e.Token))
		if _, dup := t.actors[h]; dup {
			return nil, fmt.Errorf("token file: token %d is given twice", i+1)
		}
		t.actors[h] = a
	}
	return t, nil
}

// Actor returns the caller a bearer token authenticates.
func (t *Tokens[A]) Actor(token string) (A, bool) {
	var zero A
	if t == nil || token == "" {
		return zero, false
	}
	a, ok := t.actors[sha256.Sum256([]byte(token))]
	return a, ok
}

// Token returns the first token of a role in the file (tests and tools).
func (t *Tokens[A]) Token(role fmt.Stringer) string {
	for _, e := range t.Entries {
		if e.Role == role.String() {
			return e.Token
		}
	}
	return ""
}

// LoadTokenFile reads the token file at path, which must be of the given
// format, decoded strictly (package strictjson: a duplicate, misnamed or
// unknown member is refused, naming the member, never a token). No file
// is ErrNoTokens. A file not flagged TEST-ONLY holds live
// tokens: it is refused if its group or others may read it
// (secretfile.ErrExposed; the error says chmod 600). A TEST-ONLY file is
// not refused for that; its reader warns (see secretfile.Check).
func LoadTokenFile(path, format string) (TokenFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return TokenFile{}, fmt.Errorf("%w (%s)", ErrNoTokens, path)
	}
	if err != nil {
		return TokenFile{}, err
	}
	var f TokenFile
	if err := strictjson.Unmarshal(b, &f); err != nil {
		return TokenFile{}, fmt.Errorf("token file %s: %w", path, err)
	}
	if f.Format != format {
		return TokenFile{}, fmt.Errorf("token file %s: format %q, want %q", path, f.Format, format)
	}
	if err := secretfile.Check(path); err != nil && !f.TestOnly {
		return TokenFile{}, fmt.Errorf("token file: %w", err)
	}
	return f, nil
}

// WriteTestTokenFile writes a token file of random tokens, one per entry
// of roles (named "test-ROLE", a role given again "test-ROLE-2" and so
// on), flagged TEST-ONLY with warning, readable by its owner only. It
// refuses to overwrite a file.
func WriteTestTokenFile(path, format, warning string, roles []string) (TokenFile, error) {
	f := TokenFile{Format: format, TestOnly: true, Warning: warning}
	seen := map[string]int{}
	for _, r := range roles {
		seen[r]++
		name := "test-" + r
		if seen[r] > 1 {
			name += "-" + strconv.Itoa(seen[r])
		}
		f.Tokens = append(f.Tokens, TokenEntry{Token: name + "-" + randomToken(), Role: r, Name: name})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return TokenFile{}, err
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return TokenFile{}, err
	}
	_, err = fh.Write(append(b, '\n'))
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return TokenFile{}, err
	}
	return f, nil
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Bearer returns the token of an "Authorization: Bearer TOKEN" header
// value, or "".
func Bearer(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
