package netguard_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/netguard"
)

// fakeListener hands out, in order, the errors and connections queued on
// it; then it blocks until closed.
type fakeListener struct {
	q      chan any // net.Conn or error
	closed chan struct{}
	once   sync.Once
}

func newFake() *fakeListener {
	return &fakeListener{q: make(chan any, 100), closed: make(chan struct{})}
}

func (f *fakeListener) Accept() (net.Conn, error) {
	select {
	case v := <-f.q:
		if err, ok := v.(error); ok {
			return nil, err
		}
		return v.(net.Conn), nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *fakeListener) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// addrConn is a pipe end with the remote address of a client.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// client queues a connection from ip and returns the client's end.
func (f *fakeListener) client(ip string) net.Conn {
	srv, cli := net.Pipe()
	f.q <- addrConn{srv, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
	return cli
}

// accept accepts one connection, failing t after a second.
func accept(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	type r struct {
		c   net.Conn
		err error
	}
	ch := make(chan r, 1)
	go func() { c, err := ln.Accept(); ch <- r{c, err} }()
	select {
	case got := <-ch:
		if got.err != nil {
			t.Fatal(got.err)
		}
		return got.c
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return")
		return nil
	}
}

// refused reports whether the server closed the client's end c.
func refused(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe)
}

// TestPerIPCap: a client address over MaxConnsPerIP is closed at once,
// others are still served, and a closed connection frees its place.
func TestPerIPCap(t *testing.T) {
	f := newFake()
	ln := netguard.Wrap(f, netguard.Options{Limits: netguard.Limits{MaxConns: 10, MaxConnsPerIP: 2}})
	defer ln.Close()
	a1, a2 := f.client("192.0.2.1"), f.client("192.0.2.1")
	s1, _ := accept(t, ln), accept(t, ln)
	a3 := f.client("192.0.2.1")
	b1 := f.client("192.0.2.2")
	accept(t, ln) // b1: a3 was refused on the way
	if !refused(a3) {
		t.Fatal("the third connection of one address was not refused")
	}
	_, _, _ = a1, a2, b1
	s1.Close()
	s1.Close() // a second Close frees nothing more
	f.client("192.0.2.1")
	accept(t, ln)
	a5 := f.client("192.0.2.1")
	f.client("192.0.2.3")
	accept(t, ln)
	if !refused(a5) {
		t.Fatal("a double Close freed two places")
	}
}

// TestTotalCap: connections over MaxConns are closed at once, Refuse is
// called on them first, and a closed connection frees its place.
func TestTotalCap(t *testing.T) {
	f := newFake()
	var said sync.Map
	ln := netguard.Wrap(f, netguard.Options{Limits: netguard.Limits{MaxConns: 3, MaxConnsPerIP: 3},
		Refuse: func(c net.Conn) { said.Store(c.RemoteAddr().String(), true) }})
	defer ln.Close()
	var held []net.Conn
	for i := range 3 {
		f.client(fmt.Sprintf("192.0.2.%d", i+1))
		held = append(held, accept(t, ln))
	}
	over := f.client("198.51.100.1")
	f.client("198.51.100.2") // accepted once a place is free
	done := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); done <- c }()
	if !refused(over) {
		t.Fatal("a connection over the total cap was not refused")
	}
	if _, ok := said.Load("198.51.100.1:40000"); !ok {
		t.Fatal("Refuse was not called on the refused connection")
	}
	select {
	case <-done:
		t.Fatal("a connection over the cap was accepted")
	case <-time.After(50 * time.Millisecond):
	}
	held[0].Close()
	// The second queued client came before the place was free: refused too;
	// the next one is accepted.
	f.client("198.51.100.3")
	select {
	case c := <-done:
		if c == nil || !strings.HasPrefix(c.RemoteAddr().String(), "198.51.100.") {
			t.Fatalf("accepted %v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after one closed")
	}
}

// TestTemporaryAcceptErrorRetried: EMFILE, ENFILE and ECONNABORTED are
// retried and the next connection is accepted; the episode is logged once
// when it begins and once when accepting works again; a permanent error is
// returned.
func TestTemporaryAcceptErrorRetried(t *testing.T) {
	f := newFake()
	var logs []string
	var mu sync.Mutex
	said := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(logs)
	}
	ln := netguard.Wrap(f, netguard.Options{Logf: func(format string, args ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}})
	defer ln.Close()
	episode := func() {
		for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.EMFILE} {
			f.q <- &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", e)}
		}
		f.client("192.0.2.1")
		accept(t, ln)
	}
	episode()
	episode() // flapping within the back-off: the same episode
	if l := said(); len(l) != 1 || !strings.Contains(l[0], "too many open files") {
		t.Fatalf("logs = %q, want one as the failures began", l)
	}
	time.Sleep(1100 * time.Millisecond) // longer than the longest back-off
	f.client("192.0.2.1")
	accept(t, ln)
	if l := said(); len(l) != 2 || !strings.Contains(l[1], "again after 8 failed attempts") {
		t.Fatalf("logs = %q, want a second as accepting worked again", l)
	}

	perm := errors.New("listener broken")
	f.q <- perm
	if _, err := ln.Accept(); !errors.Is(err, perm) {
		t.Fatalf("Accept = %v, want the permanent error", err)
	}
}

// TestCloseEndsBackoff: closing the listener ends an Accept in back-off.
func TestCloseEndsBackoff(t *testing.T) {
	f := newFake()
	ln := netguard.Wrap(f, netguard.Options{})
	for range 20 {
		f.q <- syscall.EMFILE
	}
	errc := make(chan error, 1)
	go func() { _, err := ln.Accept(); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	ln.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Accept after Close returned a connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept in back-off did not end on Close")
	}
}

func TestTemporary(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, true},
		{syscall.ENFILE, true},
		{syscall.ECONNABORTED, true},
		{net.ErrClosed, false},
		{syscall.EBADF, false},
		{errors.New("other"), false},
	} {
		if got := netguard.Temporary(c.err); got != c.want {
			t.Errorf("Temporary(%v) = %v", c.err, got)
		}
	}
}

// TestRealListener: on a real TCP listener the per-address cap holds and
// a refused client reads EOF.
func TestRealListener(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := netguard.Wrap(tl, netguard.Options{Limits: netguard.Limits{MaxConnsPerIP: 1},
		Refuse: func(c net.Conn) { io.WriteString(c, "421 busy\r\n") }})
	defer ln.Close()
	c1, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	s1 := accept(t, ln)
	defer s1.Close()
	c2, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	go ln.Accept()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c2)
	if string(b) != "421 busy\r\n" || err != nil {
		t.Fatalf("the refused client read %q, %v", b, err)
	}
}
