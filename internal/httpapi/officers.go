package httpapi

import (
	"fmt"
	"slices"
	"strings"
)

// CheckRegistered refuses a token file whose tokens of role name someone
// not in registered (the officers registered with a live KMC's or a
// production module's key custody): an officer's bearer token is that
// officer's API credential, so it must belong to a registered officer. The
// error names every unregistered name, never a token. A nil registered
// (a test KMC or module: no registry) refuses nothing.
func CheckRegistered(entries []TokenEntry, role string, registered []string) error {
	if registered == nil {
		return nil
	}
	var unknown []string
	for _, e := range entries {
		if e.Role == role && !slices.Contains(registered, e.Name) && !slices.Contains(unknown, e.Name) {
			unknown = append(unknown, fmt.Sprintf("%q", e.Name))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("token file: %s token(s) of %s, who are not officers registered with the key custody (the registered officers are %s)",
			role, strings.Join(unknown, ", "), strings.Join(registered, ", "))
	}
	return nil
}
