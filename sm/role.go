package sm

import (
	"fmt"
	"slices"

	"github.com/stskms/stskms/internal/role"
)

// Role is what a caller may do (PCI HSM B7, C1):
//
//	Officer   security officer: KEK slots, key loading (custody unlock,
//	          which needs every officer's component, is dual control)
//	Operator  issues and verifies tokens, lists registers
//	Auditor   reads and verifies the audit log, lists registers and slots
//
// Every method of Module takes the caller as an Actor and checks its role
// (the table in docs/sm.md). The module does not yet authenticate anyone:
// the caller's role is given as an argument, and the network API (sm/api,
// a later step) will authenticate it before calling in. Identify and the
// self-test report need no role.
type Role = role.Role

// The roles.
const (
	Officer  = role.Officer
	Operator = role.Operator
	Auditor  = role.Auditor
)

// ParseRole accepts "officer", "operator" or "auditor".
func ParseRole(s string) (Role, error) {
	if r, ok := role.Parse(s); ok {
		return r, nil
	}
	return 0, fmt.Errorf("sm: unknown role %q (officer, operator or auditor)", s)
}

// Actor is who calls: a role and a name for the audit log ("officer:alice",
// "operator:pos-3"), printed so by its String.
type Actor = role.Actor

// permissions lists which roles may call each operation.
var permissions = map[string][]Role{
	"slot.install":    {Officer},
	"slot.request":    {Officer},
	"slot.load":       {Officer},
	"slot.delete":     {Officer},
	"slot.list":       {Officer, Auditor},
	"register.list":   {Officer, Operator, Auditor},
	"token.list":      {Officer, Operator, Auditor}, // the tokens issued, never their digits (Issues)
	"token.credit":    {Operator},
	"token.manage":    {Operator},
	"token.keychange": {Operator},
	"token.test":      {Operator},
	"token.verify":    {Operator},
	"audit.verify":    {Auditor, Officer},
	"module.selftest": {Officer, Operator, Auditor},
	"console.revoke":  {Officer}, // a person's operator-console account (package console)
	"rollback.accept": {Officer}, // by two of them (AcceptRollback)
}

// Allow checks that a may do op by the table above, for a front end that
// offers or refuses an action before calling in (package console); every
// method of Module checks its own op again.
func Allow(a Actor, op string) error { return allow(a, op) }

// allow checks that a may do op.
func allow(a Actor, op string) error {
	if slices.Contains(permissions[op], a.Role) {
		return nil
	}
	return refuse(ErrRole, "%s may not %s", a.Role, op)
}
