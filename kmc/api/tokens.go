package api

import (
	"fmt"
	"path/filepath"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/kmc"
)

// TokenFile is the name of the bearer token file in the KMC directory.
const TokenFile = "kmc-api-tokens.json"

const tokensFormat = "stskms-kmc-api-tokens/1"

// TestTokensWarning flags a token file made by InitTestTokens.
const TestTokensWarning = "TEST-ONLY bearer tokens, made for a test-mode KMC; never use them for a live KMC"

// Tokens maps bearer tokens to the callers (kmc.Actor) they authenticate.
// The tokens are held as SHA-256 hashes, so a lookup compares no secret
// byte by byte.
type Tokens = httpapi.Tokens[kmc.Actor]

// ErrNoTokens is returned by LoadTokens when the KMC directory has no
// token file.
var ErrNoTokens = httpapi.ErrNoTokens

func kmcActor(role, name string) (kmc.Actor, error) {
	r, err := kmc.ParseRole(role)
	if err != nil {
		return kmc.Actor{}, err
	}
	if name == "" {
		return kmc.Actor{}, fmt.Errorf("%w: a token without a name (the audit log records role:name)", kmc.ErrInvalid)
	}
	return r.As(name), nil
}

// LoadTokens reads DIR/kmc-api-tokens.json: a JSON object
//
//	{"format": "stskms-kmc-api-tokens/1", "test_only": false,
//	 "tokens": [{"token": "…", "role": "officer", "name": "alice"}, …]}
//
// whose roles are officer, operator or auditor, every token at least 20
// characters, every name not empty (the audit log records "role:name").
func LoadTokens(dir string) (*Tokens, error) {
	return LoadTokensFile(filepath.Join(dir, TokenFile))
}

// LoadTokensFile reads a token file of LoadTokens's form at path.
func LoadTokensFile(path string) (*Tokens, error) {
	f, err := httpapi.LoadTokenFile(path, tokensFormat)
	if err != nil {
		return nil, err
	}
	return httpapi.NewTokens(f, kmcActor)
}

// InitTestTokens writes a token file of random tokens — two officers
// ("test-officer", "test-officer-2", so that scripts can import a key
// under dual control), "test-operator" and "test-auditor" — flagged
// TEST-ONLY, into the directory of a test-mode KMC. It refuses to
// overwrite a token file.
func InitTestTokens(dir string) (*Tokens, error) {
	roles := []string{kmc.Officer.String(), kmc.Officer.String(), kmc.Operator.String(), kmc.Auditor.String()}
	f, err := httpapi.WriteTestTokenFile(filepath.Join(dir, TokenFile), tokensFormat, TestTokensWarning, roles)
	if err != nil {
		return nil, err
	}
	return httpapi.NewTokens(f, kmcActor)
}
