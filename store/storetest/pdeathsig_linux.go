package storetest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig asks the kernel to stop the server (immediate shutdown) if the
// test binary dies before it could stop it.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
}
