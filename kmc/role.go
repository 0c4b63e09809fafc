package kmc

import (
	"errors"
	"fmt"
	"strings"
)

// Role is what an authenticated caller of the KMC's administration (the
// HTTP/JSON admin API, package kmc/api) may do — docs/kmc.md "Who may do
// what":
//
//	Officer   security officer: KMC key rotation, vending keys (generate,
//	          and one component each of an import under dual control)
//	Operator  KMC operator: supply groups, the security-module registry,
//	          key-use authorisations, Key Load Files
//	Auditor   reads everything and verifies the audit log
//
// Every role may read the identity, keys, supply groups, vending keys (by
// KCV), the registry and the authorisations. The KMC's methods take the
// caller as the audit log's actor text (Actor.String); Allow is the check
// a front end makes before calling them.
type Role uint8

// The roles.
const (
	Officer Role = iota + 1
	Operator
	Auditor
)

// Roles lists every role.
var Roles = []Role{Officer, Operator, Auditor}

// String returns "officer", "operator" or "auditor".
func (r Role) String() string {
	switch r {
	case Officer:
		return "officer"
	case Operator:
		return "operator"
	case Auditor:
		return "auditor"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// ParseRole accepts "officer", "operator" or "auditor".
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: role %q (officer, operator or auditor)", ErrInvalid, s)
}

// As returns an Actor of this role with a name.
func (r Role) As(name string) Actor { return Actor{Role: r, Name: name} }

// Actor is an authenticated caller: a role and a name.
type Actor struct {
	Role Role
	Name string
}

// maxActorName is the longest name an Actor's String keeps.
const maxActorName = 64

// String returns "role:name" as the audit log records it, the name
// without control characters and at most 64 bytes.
func (a Actor) String() string {
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, a.Name)
	if len(name) > maxActorName {
		name = name[:maxActorName]
	}
	return a.Role.String() + ":" + name
}

// ErrRole refuses an operation to a caller whose role may not do it.
var ErrRole = errors.New("kmc: role not allowed to do this")

// Operations checked by Allow.
const (
	OpRead        = "read"         // identity, keys, supply groups, vending keys, registry, KUAs
	OpKeyRotate   = "key.rotate"   // a new KMC key pair
	OpSGCAdd      = "sgc.add"      // a supply group
	OpVKGenerate  = "vk.generate"  // a vending key from the CSPRNG
	OpVKImport    = "vk.import"    // one officer's component of an imported vending key
	OpSMRegister  = "sm.register"  // a security module into the registry
	OpSMRevoke    = "sm.revoke"    // a registration
	OpKUAGrant    = "kua.grant"    // a key-use authorisation
	OpKUARevoke   = "kua.revoke"   // a key-use authorisation
	OpKLFIssue    = "klf.issue"    // a Key Load File for a VKLOAD.REQ.1
	OpKLFList     = "klf.list"     // the files issued
	OpAuditVerify = "audit.verify" // the audit log's hash chain
)

// permissions lists which roles may do each operation.
var permissions = map[string][]Role{
	OpRead:        {Officer, Operator, Auditor},
	OpKeyRotate:   {Officer},
	OpSGCAdd:      {Operator},
	OpVKGenerate:  {Officer},
	OpVKImport:    {Officer},
	OpSMRegister:  {Operator},
	OpSMRevoke:    {Operator},
	OpKUAGrant:    {Operator},
	OpKUARevoke:   {Operator},
	OpKLFIssue:    {Operator},
	OpKLFList:     {Operator, Auditor},
	OpAuditVerify: {Auditor, Officer},
}

// Allow checks that a may do op: nil, or ErrRole naming both (an unknown
// op is allowed to no one).
func Allow(a Actor, op string) error {
	for _, r := range permissions[op] {
		if a.Role == r {
			return nil
		}
	}
	return fmt.Errorf("%w: %s may not %s", ErrRole, a.Role, op)
}
