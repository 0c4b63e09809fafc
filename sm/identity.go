package sm

import (
	"crypto/ecdh"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stskms/stskms/records"
)

// Variant is the module type of STS 600-10-1 §4.1.3 (Table 1). A module
// implements exactly one, chosen by Init and fixed for its life: it is
// stored sealed under the module's storage key, and nothing can change it.
type Variant uint8

// The variants.
const (
	// Vending issues credit tokens only under DUTK and DCTK, makes every
	// key change but DITK→DDTK/DUTK/DCTK, and refuses initialization
	// (type 0) vending keys.
	Vending Variant = iota + 1
	// Manufacturing issues credit tokens only under DITK and makes every
	// key change of IEC 62055-41 §6.5.
	Manufacturing
)

// String returns "vending" or "manufacturing".
func (v Variant) String() string {
	switch v {
	case Vending:
		return "vending"
	case Manufacturing:
		return "manufacturing"
	}
	return fmt.Sprintf("Variant(%d)", uint8(v))
}

// ParseVariant accepts "vending" or "manufacturing".
func ParseVariant(s string) (Variant, error) {
	switch s {
	case "vending":
		return Vending, nil
	case "manufacturing":
		return Manufacturing, nil
	}
	return 0, fmt.Errorf("sm: unknown variant %q (vending or manufacturing)", s)
}

// MarshalText returns the variant's name.
func (v Variant) MarshalText() ([]byte, error) {
	if v != Vending && v != Manufacturing {
		return nil, fmt.Errorf("sm: invalid variant %d", uint8(v))
	}
	return []byte(v.String()), nil
}

// UnmarshalText parses a variant's name.
func (v *Variant) UnmarshalText(b []byte) error {
	p, err := ParseVariant(string(b))
	*v = p
	return err
}

// Model is the SM model this software reports (in its identity and in
// every VKLOAD.REQ.1). It names a software module, so that a KMC can tell
// it from a certified hardware one.
const Model = "stskms-SoftSM"

// API names an interface of the module; each has its own firmware
// identifier (STS 600-10-1 §4.4).
type API string

// The APIs of the module.
const (
	// APISTS6 is the STS6-style API of STS 600-8-6 as known from public
	// code (notes kms-records.md §4): SM?/SM! frames of PTVD fields.
	APISTS6 API = "sts6"
	// APIHTTP is the HTTP/JSON API with the same operations.
	APIHTTP API = "http"
)

// The firmware identifier of each API: 8 characters, as the VKLOAD.REQ.1
// sm_firmware field and the legacy SM?ID reply carry it (STS 600-10-1 §4.4:
// each API may have its own, and each firmware version is certified
// separately). A change to an API's behaviour gets a new identifier.
const (
	// FirmwareSTS6 identifies the STS6-style API; a VKLOAD.REQ.1 carries
	// it, as the API STS 600-8-6 defines.
	FirmwareSTS6 = "SSMAPI01"
	// FirmwareHTTP identifies the HTTP/JSON API.
	FirmwareHTTP = "SSMHTTP1"
)

// Identity is what the module says of itself. It holds no secret.
type Identity struct {
	// SMID names the module's P-384 ECDH key (records.NewPKID with our key
	// hash convention).
	SMID records.PKID `json:"smid"`
	// Variant is fixed for the module's life.
	Variant Variant `json:"variant"`
	// Model is always Model.
	Model string `json:"model"`
	// Firmware is the firmware identifier of each API.
	Firmware map[API]string `json:"firmware"`
	// Virtual is always true: this is a software module, which must never
	// be made known to a live KMC (STS 600-10-1 §4.5).
	Virtual bool `json:"virtual"`
	// Test reports a module whose key custody unlocks from a file beside
	// it (keystore.InitTest): it protects nothing and is for tests only.
	Test bool `json:"test"`
	// Created is when the module was initialised (UTC).
	Created time.Time `json:"created"`
	// PublicKey is the module's ECDH public key (PUBKEY_sm).
	PublicKey *ecdh.PublicKey `json:"-"`
	// AuditKey is the note verifier key of the audit log's checkpoints
	// (see docs/audit.md); not part of the sealed identity.
	AuditKey string `json:"audit_key,omitempty"`
}

// identityRecord is the sealed form of the identity in the database.
type identityRecord struct {
	Format   string         `json:"format"`
	SMID     string         `json:"smid"`
	Variant  Variant        `json:"variant"`
	Model    string         `json:"model"`
	Firmware map[API]string `json:"firmware"`
	Virtual  bool           `json:"virtual"`
	Test     bool           `json:"test"`
	Created  int64          `json:"created_ns"`
}

const identityFormat = "stskms-sm-identity/1"

func (id Identity) record() identityRecord {
	return identityRecord{Format: identityFormat, SMID: id.SMID.String(), Variant: id.Variant, Model: id.Model,
		Firmware: id.Firmware, Virtual: id.Virtual, Test: id.Test, Created: id.Created.UnixNano()}
}

func (r identityRecord) marshal() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic("sm: identity does not marshal: " + err.Error()) // only plain fields
	}
	return b
}

// identityAAD binds the sealed identity to its purpose.
var identityAAD = []byte("stskms-sm/identity/v1")

// MarshalJSON adds the public key in hex and the test-mode warning.
func (id Identity) MarshalJSON() ([]byte, error) {
	type plain Identity
	out := struct {
		plain
		SMID      string `json:"smid"`
		PublicKey string `json:"public_key,omitempty"`
		Warning   string `json:"warning,omitempty"`
	}{plain: plain(id), SMID: id.SMID.String()}
	if id.PublicKey != nil {
		out.PublicKey = fmt.Sprintf("%X", id.PublicKey.Bytes())
	}
	if id.Test {
		out.Warning = TestWarning
	}
	return json.Marshal(out)
}

// TestWarning is shown wherever a test module shows.
const TestWarning = "TEST-ONLY module: its key custody unlocks from a file beside it and protects nothing; never load live keys into it"
