package api

import (
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/kmc"
)

// CheckOfficerTokens refuses, before the API serves, a token file whose
// officer tokens name someone not among officers, the officers registered
// with the KMC's key custody (kmc.DirOfficers, kmc.KMC.Officers): the
// bearer token is that officer's API credential for the parts of dual
// control (a console will take the officer's passkey instead). A test KMC
// registers no officers (nil) and is not checked. The handlers refuse
// such a part anyway (EUnknownOfficer, 403).
func CheckOfficerTokens(t *Tokens, officers []string) error {
	return httpapi.CheckRegistered(t.Entries, kmc.Officer.String(), officers)
}
