package api

import (
	"path/filepath"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/sm"
)

// TokenFile is the name of the bearer token file in the module directory.
const TokenFile = "sm-api-tokens.json"

const tokensFormat = "stskms-sm-api-tokens/1"

// TestTokensWarning flags a token file made by InitTestTokens.
const TestTokensWarning = "TEST-ONLY bearer tokens, made for a test module; never use them for a live module"

// TokenEntry is one bearer token of the token file and the caller it
// authenticates (role officer, operator or auditor).
type TokenEntry = httpapi.TokenEntry

// Tokens maps bearer tokens to the callers they authenticate. The tokens
// are held as SHA-256 hashes, so a lookup compares no secret byte by byte.
type Tokens = httpapi.Tokens[sm.Actor]

// ErrNoTokens is returned by LoadTokens when the module directory has no
// token file.
var ErrNoTokens = httpapi.ErrNoTokens

func smActor(role, name string) (sm.Actor, error) {
	r, err := sm.ParseRole(role)
	return r.As(name), err
}

// LoadTokens reads DIR/sm-api-tokens.json.
func LoadTokens(dir string) (*Tokens, error) {
	f, err := httpapi.LoadTokenFile(filepath.Join(dir, TokenFile), tokensFormat)
	if err != nil {
		return nil, err
	}
	return httpapi.NewTokens(f, smActor)
}

// InitTestTokens writes a token file of random tokens, one per role
// (names "test-officer", "test-operator", "test-auditor"), flagged
// TEST-ONLY, into the directory of a test module. It refuses to
// overwrite a token file.
func InitTestTokens(dir string) (*Tokens, error) {
	f, err := httpapi.WriteTestTokenFile(filepath.Join(dir, TokenFile), tokensFormat, TestTokensWarning,
		[]string{sm.Officer.String(), sm.Operator.String(), sm.Auditor.String()})
	if err != nil {
		return nil, err
	}
	return httpapi.NewTokens(f, smActor)
}
