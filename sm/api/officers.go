package api

import (
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/sm"
)

// CheckOfficerTokens refuses, before the API serves, a token file whose
// officer tokens name someone not among officers, the officers registered
// with the module's key custody (sm.DirOfficers, sm.Module.Officers): the
// bearer token is that officer's API credential for dual control (a
// console will take the officer's passkey instead). A test module
// registers no officers (nil) and is not checked. The dual-control
// handlers refuse such an officer anyway (sm.Module.DualControl, 403).
func CheckOfficerTokens(t *Tokens, officers []string) error {
	return httpapi.CheckRegistered(t.Entries, sm.Officer.String(), officers)
}
