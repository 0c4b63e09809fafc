package unseal

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// RunDir is the directory, inside a service's directory, that holds the
// sockets of its running services.
const RunDir = "run"

// maxSunPath is the longest socket path the kernel takes (sun_path is 108
// bytes on Linux, with its terminating NUL).
const maxSunPath = 107

// dialTimeout bounds a client's connection attempt and so the probe of a
// stale socket.
const dialTimeout = 2 * time.Second

// SocketPath is the socket of the service named service, with process id
// pid, for the directory dir.
func SocketPath(dir, service string, pid int) string {
	return filepath.Join(dir, RunDir, service+"-"+strconv.Itoa(pid)+".sock")
}

// listen makes dir/run (mode 0700), removes the stale sockets in it and
// listens on path, mode 0600.
func listen(dir, path string) (*net.UnixListener, error) {
	if len(path) > maxSunPath {
		return nil, fmt.Errorf("unseal: the socket path %s is %d bytes, longer than the %d a Unix socket takes: use a shorter directory", path, len(path), maxSunPath)
	}
	run := filepath.Join(dir, RunDir)
	if err := os.Mkdir(run, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	if err := checkRunDir(run); err != nil {
		return nil, err
	}
	removeStale(run)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("unseal: %w", err)
	}
	return ln, nil
}

// checkRunDir refuses a run directory that is not a directory of this
// user that only it may enter.
func checkRunDir(run string) error {
	fi, err := os.Lstat(run)
	if err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("unseal: %s is not a directory", run)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("unseal: %s belongs to another user (uid %d)", run, st.Uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("unseal: %s is open to others (mode %v): want 0700", run, fi.Mode().Perm())
	}
	return nil
}

// removeStale removes the sockets in run that nothing listens on (left by
// a service that was killed).
func removeStale(run string) {
	for _, path := range sockets(run) {
		if c, err := net.DialTimeout("unix", path, dialTimeout); err == nil {
			c.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			os.Remove(path)
		}
	}
}

// sockets lists the sockets in run.
func sockets(run string) []string {
	paths, _ := filepath.Glob(filepath.Join(run, "*.sock"))
	return paths
}
