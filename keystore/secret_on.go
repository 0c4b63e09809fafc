//go:build goexperiment.runtimesecret

package keystore

import "runtime/secret"

// doSecret runs f under runtime/secret.Do: f's registers and stack are
// erased when it returns, and its heap allocations once the garbage
// collector frees them (linux/amd64 and linux/arm64; elsewhere Do just
// calls f).
func doSecret(f func()) { secret.Do(f) }

// secretErasure reports whether doSecret erases what f leaves behind.
const secretErasure = true
