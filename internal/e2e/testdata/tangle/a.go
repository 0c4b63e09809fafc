// Package tangle is TestFileRefsTwoWay's example: a.go and b.go reference
// each other, a.go references c.go one way.
package tangle

import "strings"

// A uses B (b.go) and C (c.go).
func A() string { return strings.ToUpper(B() + C) }
