package main

import "os/user"

// cliActor is who a command acts as in the audit log unless --as says
// otherwise: "cli:USER", USER being $USER or else the account the process
// runs as (os/user); "cli" if neither is known. Every command that writes
// audit records defaults its --as to it (kmc, sm, audit checkpoint).
func cliActor(e *env) string {
	name := e.getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		return "cli"
	}
	return "cli:" + name
}
