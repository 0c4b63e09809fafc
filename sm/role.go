package sm

import (
	"fmt"
	"strings"
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
type Role uint8

// The roles.
const (
	Officer Role = iota + 1
	Operator
	Auditor
)

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
	for _, r := range []Role{Officer, Operator, Auditor} {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("sm: unknown role %q (officer, operator or auditor)", s)
}

// As returns an Actor of this role with a name.
func (r Role) As(name string) Actor { return Actor{Role: r, Name: name} }

// Actor is who calls: a role and a name for the audit log ("officer:alice",
// "operator:pos-3").
type Actor struct {
	Role Role
	Name string
}

// String returns "role:name" as the audit log records it.
func (a Actor) String() string {
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, a.Name)
	if len(name) > 64 {
		name = name[:64]
	}
	return a.Role.String() + ":" + name
}

// permissions lists which roles may call each operation.
var permissions = map[string][]Role{
	"slot.install":    {Officer},
	"slot.request":    {Officer},
	"slot.load":       {Officer},
	"slot.delete":     {Officer},
	"slot.list":       {Officer, Auditor},
	"register.list":   {Officer, Operator, Auditor},
	"token.credit":    {Operator},
	"token.manage":    {Operator},
	"token.keychange": {Operator},
	"token.test":      {Operator},
	"token.verify":    {Operator},
	"audit.verify":    {Auditor, Officer},
	"module.selftest": {Officer, Operator, Auditor},
}

// allow checks that a may do op.
func allow(a Actor, op string) error {
	for _, r := range permissions[op] {
		if a.Role == r {
			return nil
		}
	}
	return refuse(ErrRole, "%s may not %s", a.Role, op)
}
