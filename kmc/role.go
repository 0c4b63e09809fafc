package kmc

import (
	"errors"
	"fmt"
	"slices"

	"github.com/stskms/stskms/internal/role"
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
type Role = role.Role

// The roles.
const (
	Officer  = role.Officer
	Operator = role.Operator
	Auditor  = role.Auditor
)

// Roles lists every role.
var Roles = role.All

// ParseRole accepts "officer", "operator" or "auditor".
func ParseRole(s string) (Role, error) {
	if r, ok := role.Parse(s); ok {
		return r, nil
	}
	return 0, fmt.Errorf("%w: role %q (officer, operator or auditor)", ErrInvalid, s)
}

// Actor is an authenticated caller: a role and a name. Its String is
// "role:name" as the audit log records it.
type Actor = role.Actor

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
	OpSMEmails    = "sm.emails"    // the addresses a module's Key Load Files may go to
	OpKUAGrant    = "kua.grant"    // a key-use authorisation
	OpKUARevoke   = "kua.revoke"   // a key-use authorisation
	OpKLFIssue    = "klf.issue"    // a Key Load File for a VKLOAD.REQ.1
	OpKLFList     = "klf.list"     // the files issued
	OpAuditVerify = "audit.verify" // the audit log's hash chain
	OpSTSAKey     = "stsa.key"     // configure or remove an STS Association key: a trust anchor, like key.rotate
	OpSMUpdate    = "sm.update"    // apply a signed registry update (its authority is the STSA's signature)
	OpPrune       = "prune"        // drop seen requests and update answers too old to matter

	// OpConsoleRevoke revokes a person's operator-console account
	// (package console).
	OpConsoleRevoke = "console.revoke"

	// OpGatewayManage changes the e-mail gateway's queue: retry, purge,
	// unblock (console/kmcconsole's gateway page).
	OpGatewayManage = "gateway.manage"
)

// permissions lists which roles may do each operation.
var permissions = map[string][]Role{
	OpRead:        {Officer, Operator, Auditor},
	OpKeyRotate:   {Officer},
	OpSTSAKey:     {Officer},
	OpSMUpdate:    {Operator},
	OpPrune:       {Operator},
	OpSGCAdd:      {Operator},
	OpVKGenerate:  {Officer},
	OpVKImport:    {Officer},
	OpSMRegister:  {Operator},
	OpSMRevoke:    {Operator},
	OpSMEmails:    {Operator},
	OpKUAGrant:    {Operator},
	OpKUARevoke:   {Operator},
	OpKLFIssue:    {Operator},
	OpKLFList:     {Operator, Auditor},
	OpAuditVerify: {Auditor, Officer},

	OpConsoleRevoke: {Officer},
	OpGatewayManage: {Officer, Operator},
}

// Allow checks that a may do op: nil, or ErrRole naming both (an unknown
// op is allowed to no one).
func Allow(a Actor, op string) error {
	if slices.Contains(permissions[op], a.Role) {
		return nil
	}
	return fmt.Errorf("%w: %s may not %s", ErrRole, a.Role, op)
}
