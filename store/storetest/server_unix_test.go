//go:build unix

package storetest

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestServerStops starts a server of its own and checks that stop leaves
// no postmaster and no directory behind: what Main does after the tests.
func TestServerStops(t *testing.T) {
	p, skip, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(skip)
		}
		t.Skip(skip)
	}
	pid, dir := p.proc.cmd.Process.Pid, p.proc.dir
	var one int64
	if err := p.admin.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d, %v", one, err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("postmaster %d not running: %v", pid, err)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d still there after stop: kill 0: %v", pid, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server directory %s still there after stop: %v", dir, err)
	}
}
