//go:build unix && !linux

package storetest

import "os/exec"

// setPdeathsig does nothing: only Linux can stop a child when its parent
// dies. A test binary that is killed leaves its server behind.
func setPdeathsig(*exec.Cmd) {}
