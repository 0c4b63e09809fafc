package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stskms/stskms/sm"
)

// TokenFile is the name of the bearer token file in the module directory.
const TokenFile = "sm-api-tokens.json"

const tokensFormat = "stskms-sm-api-tokens/1"

// TestTokensWarning flags a token file made by InitTestTokens.
const TestTokensWarning = "TEST-ONLY bearer tokens, made for a test module; never use them for a live module"

// TokenEntry is one bearer token of the token file and the caller it
// authenticates.
type TokenEntry struct {
	Token string `json:"token"`
	Role  string `json:"role"` // officer, operator or auditor
	Name  string `json:"name"` // for the audit log
}

// tokenFile is DIR/sm-api-tokens.json.
type tokenFile struct {
	Format   string       `json:"format"`
	TestOnly bool         `json:"test_only"`
	Warning  string       `json:"warning,omitempty"`
	Tokens   []TokenEntry `json:"tokens"`
}

// Tokens maps bearer tokens to the callers they authenticate. The tokens
// are held as SHA-256 hashes, so a lookup compares no secret byte by byte.
type Tokens struct {
	actors   map[[32]byte]sm.Actor
	TestOnly bool
	Entries  []TokenEntry // as read, for printing by tests and tools
}

// minTokenLen is the shortest token accepted in a token file.
const minTokenLen = 20

func newTokens(f tokenFile) (*Tokens, error) {
	t := &Tokens{actors: map[[32]byte]sm.Actor{}, TestOnly: f.TestOnly, Entries: f.Tokens}
	for i, e := range f.Tokens {
		if len(e.Token) < minTokenLen {
			return nil, fmt.Errorf("sm/api: token %d of the token file is shorter than %d characters", i+1, minTokenLen)
		}
		r, err := sm.ParseRole(e.Role)
		if err != nil {
			return nil, fmt.Errorf("sm/api: token %d of the token file: %w", i+1, err)
		}
		h := sha256.Sum256([]byte(e.Token))
		if _, dup := t.actors[h]; dup {
			return nil, fmt.Errorf("sm/api: token %d of the token file is given twice", i+1)
		}
		t.actors[h] = r.As(e.Name)
	}
	return t, nil
}

// Actor returns the caller a bearer token authenticates.
func (t *Tokens) Actor(token string) (sm.Actor, bool) {
	if t == nil || token == "" {
		return sm.Actor{}, false
	}
	a, ok := t.actors[sha256.Sum256([]byte(token))]
	return a, ok
}

// Token returns the first token of a role in the file (tests and tools).
func (t *Tokens) Token(role sm.Role) string {
	for _, e := range t.Entries {
		if e.Role == role.String() {
			return e.Token
		}
	}
	return ""
}

// ErrNoTokens is returned by LoadTokens when the module directory has no
// token file.
var ErrNoTokens = errors.New("sm/api: no token file in the module directory")

// LoadTokens reads DIR/sm-api-tokens.json.
func LoadTokens(dir string) (*Tokens, error) {
	b, err := os.ReadFile(filepath.Join(dir, TokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s)", ErrNoTokens, filepath.Join(dir, TokenFile))
	}
	if err != nil {
		return nil, err
	}
	var f tokenFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("sm/api: token file: %w", err)
	}
	if f.Format != tokensFormat {
		return nil, fmt.Errorf("sm/api: token file format %q, want %q", f.Format, tokensFormat)
	}
	return newTokens(f)
}

// InitTestTokens writes a token file of random tokens, one per role
// (names "test-officer", "test-operator", "test-auditor"), flagged
// TEST-ONLY, into the directory of a test module. It refuses to
// overwrite a token file.
func InitTestTokens(dir string) (*Tokens, error) {
	f := tokenFile{Format: tokensFormat, TestOnly: true, Warning: TestTokensWarning}
	for _, r := range []sm.Role{sm.Officer, sm.Operator, sm.Auditor} {
		f.Tokens = append(f.Tokens, TokenEntry{Token: "test-" + r.String() + "-" + randomToken(), Role: r.String(), Name: "test-" + r.String()})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	fh, err := os.OpenFile(filepath.Join(dir, TokenFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := fh.Write(append(b, '\n')); err != nil {
		fh.Close()
		return nil, err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return nil, err
	}
	if err := fh.Close(); err != nil {
		return nil, err
	}
	return newTokens(f)
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
