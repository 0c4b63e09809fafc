//go:build !goexperiment.runtimesecret

package keystore

// doSecret runs f. Built with GOEXPERIMENT=runtimesecret it runs f under
// runtime/secret.Do instead, which erases f's registers, stack and (once
// freed) heap allocations; see the package documentation.
func doSecret(f func()) { f() }

// secretErasure reports whether doSecret erases what f leaves behind.
const secretErasure = false
