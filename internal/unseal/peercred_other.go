//go:build !linux

package unseal

import (
	"net"
	"os"
)

// peerUID is the service's own user id where SO_PEERCRED is not
// available: the socket's mode (0600) and its directory's (0700) are the
// only guard there.
func peerUID(*net.UnixConn) (int, error) { return os.Getuid(), nil }
