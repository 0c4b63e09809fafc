package unseal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"time"
)

// ErrNoService is returned when no service of the directory is running.
var ErrNoService = errors.New("unseal: no running service has a socket here")

// Send sends req to every running service of dir (each socket in dir/run)
// and returns their answers, in the order of their sockets; a socket
// that cannot be reached gives an answer with its Error. Stale sockets
// (nothing listening) are skipped; none left is ErrNoService.
func Send(dir string, req Request) ([]Status, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	var out []Status
	for _, path := range sockets(filepath.Join(dir, RunDir)) {
		st, err := send(path, raw)
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			continue
		}
		if err != nil {
			st = Status{Error: err.Error()}
		}
		st.Socket = path
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoService, filepath.Join(dir, RunDir))
	}
	return out, nil
}

// send sends one request on the socket at path and reads the answer.
func send(path string, raw []byte) (Status, error) {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return Status{}, err
	}
	defer c.Close()
	// A seal waits for the service to close its store.
	c.SetDeadline(time.Now().Add(sealWait + connDeadline))
	if _, err := c.Write(raw); err != nil {
		return Status{}, err
	}
	if err := c.(*net.UnixConn).CloseWrite(); err != nil {
		return Status{}, err
	}
	b, err := io.ReadAll(io.LimitReader(c, maxAnswer))
	if err != nil {
		return Status{}, err
	}
	var st Status
	if err := json.Unmarshal(bytes.TrimSpace(b), &st); err != nil {
		return Status{}, fmt.Errorf("unseal: no answer from the service (another user's socket?)")
	}
	return st, nil
}
