package api

import (
	"time"

	"github.com/stskms/stskms/kmc"
)

// Limits of imports under dual control.
const (
	// MaxQuorum is the most components an import may take.
	MaxQuorum = kmc.MaxQuorum
	// ImportLifetime is how long an import waits for its components; then
	// the components received are deleted and it is gone.
	ImportLifetime = time.Hour
)

// importAnswer is the answer of a pending import.
func importAnswer(p kmc.PendingImport) ImportAnswer {
	a := ImportAnswer{ID: p.ID, State: "pending", Quorum: p.Quorum, Officers: []string{}, Expires: p.Expires}
	a.Officers = append(a.Officers, p.Officers...)
	return a
}
