//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair (Linux /dev/ptmx), closed at
// cleanup, or skips t if there is none.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var n uint32
	var unlock int32
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errno syscall.Errno
	rc.Control(func(fd uintptr) {
		if _, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno == 0 {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
		}
	})
	if errno != 0 {
		t.Fatal(errno)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// echoOn reports whether the terminal of f echoes input.
func echoOn(t *testing.T, f *os.File) bool {
	t.Helper()
	var tio syscall.Termios
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errno syscall.Errno
	rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&tio)))
	})
	if errno != 0 {
		t.Fatal(errno)
	}
	return tio.Lflag&syscall.ECHO != 0
}

// screen collects what the terminal shows (the master side's output).
type screen struct {
	mu   sync.Mutex
	text bytes.Buffer
	more chan struct{}
}

func watch(m *os.File) *screen {
	s := &screen{more: make(chan struct{}, 1)}
	go func() {
		b := make([]byte, 256)
		for {
			n, err := m.Read(b)
			s.mu.Lock()
			s.text.Write(b[:n])
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}

// waitFor waits until the screen shows want n times (a generous safety
// limit keeps a broken prompt from hanging the test).
func (s *screen) waitFor(t *testing.T, want string, n int) {
	t.Helper()
	limit := time.After(time.Minute)
	for strings.Count(s.String(), want) < n {
		select {
		case <-s.more:
		case <-limit:
			t.Fatalf("the terminal never showed %q; it shows %q", want, s.String())
		}
	}
}

// waitEchoOff waits until the terminal stops echoing.
func waitEchoOff(t *testing.T, slave *os.File) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); echoOn(t, slave); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("echo never turned off")
		}
	}
}

// TestPromptsWithoutEcho: on a terminal, officers' names are echoed and
// their passphrases are not; the echo comes back on afterwards.
func TestPromptsWithoutEcho(t *testing.T) {
	master, slave := openPTY(t)
	scr := watch(master)
	e := &env{stdin: slave, stdout: slave, stderr: slave, getenv: func(string) string { return "" }}
	type result struct {
		names  []string
		passes []string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		creds, err := smCredentials(e)
		var r result
		for _, c := range creds {
			r.names, r.passes = append(r.names, c.Officer), append(r.passes, string(c.Passphrase))
		}
		r.err = err
		done <- r
	}()
	for i, o := range []struct{ name, pass string }{{"alice", "first-s3cret-horse"}, {"bob", "second-s3cret-tuna"}} {
		scr.waitFor(t, "officer name", i+1)
		master.Write([]byte(o.name + "\n"))
		scr.waitFor(t, "passphrase of officer", i+1)
		waitEchoOff(t, slave)
		master.Write([]byte(o.pass + "\n"))
	}
	scr.waitFor(t, "officer name", 3)
	master.Write([]byte("\n"))
	r := <-done
	if r.err != nil || strings.Join(r.names, ",") != "alice,bob" || strings.Join(r.passes, ",") != "first-s3cret-horse,second-s3cret-tuna" {
		t.Fatalf("read %v %v, %v", r.names, r.passes, r.err)
	}
	shown := scr.String()
	if strings.Contains(shown, "s3cret") || !strings.Contains(shown, "alice") {
		t.Fatalf("the terminal showed %q", shown)
	}
	if !echoOn(t, slave) {
		t.Fatal("echo left off")
	}

	// The PIN of a token, asked for when no file or variable gives it.
	pinDone := make(chan error, 1)
	var pin []byte
	go func() {
		var err error
		pin, err = readPIN(e, "", "tok")
		pinDone <- err
	}()
	scr.waitFor(t, "PKCS#11 user PIN", 1)
	waitEchoOff(t, slave)
	master.Write([]byte("pin-4711-s3cret\n"))
	if err := <-pinDone; err != nil || string(pin) != "pin-4711-s3cret" {
		t.Fatalf("PIN %q, %v", pin, err)
	}
	if strings.Contains(scr.String(), "4711") {
		t.Fatal("the PIN was echoed")
	}
}
