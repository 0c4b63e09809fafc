// Package role is the role and actor shape that the security module
// (package sm) and the Key Management Centre (package kmc) share: three
// roles, officer, operator and auditor, and an Actor, a role with a name,
// printed "role:name" in the audit log. What each role may do is each
// package's own table; sm and kmc re-export these types under their own
// names (sm.Role, kmc.Actor, …).
package role

import (
	"fmt"
	"strings"
)

// Role is what an authenticated caller may do; the meaning of each role is
// documented by the package that checks it (sm, kmc).
type Role uint8

// The roles.
const (
	Officer Role = iota + 1
	Operator
	Auditor
)

// All lists every role.
var All = []Role{Officer, Operator, Auditor}

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

// Parse accepts "officer", "operator" or "auditor"; ok is false for any
// other text, for the caller to report in its own error.
func Parse(s string) (r Role, ok bool) {
	for _, r := range All {
		if s == r.String() {
			return r, true
		}
	}
	return 0, false
}

// As returns an Actor of this role with a name.
func (r Role) As(name string) Actor { return Actor{Role: r, Name: name} }

// Actor is an authenticated caller: a role and a name for the audit log
// ("officer:alice", "operator:pos-3").
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
