package unseal

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/keystore"
)

// testGate is a gate of officers alice and bob on a short temporary
// directory whose passphrases are "pw-NAME"; its log lines and audited
// events are kept.
type testGate struct {
	*Gate
	dir string
	mu  sync.Mutex
	log []string
}

// shortDir returns a new directory with a path short enough for the
// gate's sockets, removed when t ends.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "unseal")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newTestGate(t *testing.T) *testGate {
	t.Helper()
	dir := shortDir(t)
	tg := &testGate{dir: dir}
	g, err := Listen(Config{Dir: dir, Service: "test-serve", Component: "kmc", Officers: []string{"alice", "bob"},
		Verify: func(c keystore.Component) error {
			switch {
			case c.Officer != "alice" && c.Officer != "bob":
				return &keystore.OfficerError{Officer: c.Officer, Err: keystore.ErrUnknownOfficer}
			case string(c.Passphrase) != "pw-"+c.Officer:
				return &keystore.OfficerError{Officer: c.Officer, Err: keystore.ErrBadPassphrase}
			}
			return nil
		},
		Logf: func(format string, args ...any) {
			tg.mu.Lock()
			defer tg.mu.Unlock()
			tg.log = append(tg.log, fmt.Sprintf(format, args...))
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	tg.Gate = g
	return tg
}

func (tg *testGate) logText() string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return strings.Join(tg.log, "\n")
}

// ask sends req and returns the one answer.
func (tg *testGate) ask(t *testing.T, req Request) Status {
	t.Helper()
	sts, err := Send(tg.dir, req)
	if err != nil || len(sts) != 1 {
		t.Fatalf("send %s: %v %v", req.Op, sts, err)
	}
	return sts[0]
}

func unsealReq(officer, pass string) Request {
	return Request{Op: OpUnseal, Officer: officer, Passphrase: []byte(pass)}
}

// TestGateCycle: sealed, each officer's part, open, serve, seal, and
// again; every step is audited, in order, without a passphrase.
func TestGateCycle(t *testing.T) {
	tg := newTestGate(t)
	if st := tg.ask(t, Request{Op: OpStatus}); st.State() != "sealed (0 of 2 officers)" || st.Service != "test-serve" {
		t.Fatalf("status %+v", st)
	}
	if st := tg.ask(t, unsealReq("alice", "pw-alice")); st.Error != "" || st.State() != "sealed (1 of 2 officers: alice)" {
		t.Fatalf("alice: %+v", st)
	}
	var audited []Event
	var amu sync.Mutex
	write := func(evs []Event) { amu.Lock(); audited = append(audited, evs...); amu.Unlock() }
	for round := range 2 {
		if round > 0 {
			tg.ask(t, unsealReq("alice", "pw-alice"))
		}
		served := make(chan context.Context, 1)
		go func() {
			comps, err := tg.Wait(context.Background())
			if err != nil || len(comps) != 2 || comps[0].Officer != "alice" || string(comps[1].Passphrase) != "pw-bob" {
				t.Errorf("Wait: %v %v", comps, err)
			}
			served <- tg.Unsealed(context.Background(), write)
		}()
		if st := tg.ask(t, unsealReq("bob", "pw-bob")); st.Error != "" || st.State() != "unsealed" {
			t.Fatalf("bob: %+v", st)
		}
		ctx := <-served
		go func() { <-ctx.Done(); tg.Resealed() }()
		if st := tg.ask(t, Request{Op: OpSeal}); st.State() != "sealed (0 of 2 officers)" || ctx.Err() == nil {
			t.Fatalf("seal: %+v", st)
		}
	}
	amu.Lock()
	defer amu.Unlock()
	var got []string
	for _, ev := range audited {
		got = append(got, ev.Action+":"+ev.Officer)
	}
	want := "kmc.unseal.officer:alice kmc.unseal.officer:bob kmc.unseal: kmc.seal: " +
		"kmc.unseal.officer:alice kmc.unseal.officer:bob kmc.unseal: kmc.seal:"
	if strings.Join(got, " ") != want {
		t.Fatalf("audited %q, want %q", got, want)
	}
	if strings.Contains(tg.logText(), "pw-") {
		t.Fatalf("a passphrase in the log: %s", tg.logText())
	}
}

// TestGateRefusals: a wrong passphrase, an unknown officer, garbage, an
// oversize request and a protocol breach are refused and counted, change
// nothing, are held for the audit log and never quoted back; after three
// wrong passphrases in a row even the right one waits.
func TestGateRefusals(t *testing.T) {
	tg := newTestGate(t)
	tg.ask(t, unsealReq("alice", "pw-alice"))
	path := tg.Socket()
	for i, raw := range [][]byte{
		[]byte(`{"op":"unseal","officer":"bob","passphrase":"` + b64("secret-wrong") + `"}`),
		[]byte(`{"op":"unseal","officer":"mallory","passphrase":"` + b64("secret-x") + `"}`),
		[]byte(`not json secret-garbage`),
		bytes.Repeat([]byte("x"), MaxRequest+10),
		[]byte(`{"op":"status","passphrase":"` + b64("secret-y") + `"}`),
		[]byte(`{"op":"unseal","officer":"bob","passphrase":"` + b64("secret-z") + `","Op":"seal"}`),
	} {
		st, err := send(path, raw)
		if err != nil || !strings.HasPrefix(st.Error, "refused: ") || st.Refused != i+1 || st.State() != "sealed (1 of 2 officers: alice)" {
			t.Fatalf("request %d: %+v %v", i, st, err)
		}
		if strings.Contains(st.Error, "secret") {
			t.Fatalf("request %d: the refusal quotes the request: %q", i, st.Error)
		}
	}
	// Two more wrong ones: the third in a row starts the back-off.
	tg.ask(t, unsealReq("bob", "wrong"))
	tg.ask(t, unsealReq("bob", "wrong"))
	if st := tg.ask(t, unsealReq("bob", "pw-bob")); !strings.Contains(st.Error, "try again in") || !st.Sealed {
		t.Fatalf("right passphrase during the back-off: %+v", st)
	}
	tg.Gate.mu.Lock()
	held := len(tg.Gate.held)
	tg.Gate.mu.Unlock()
	if held < 9 {
		t.Fatalf("%d events held for the audit log", held)
	}
	if strings.Contains(tg.logText(), "secret") {
		t.Fatalf("the log quotes a request: %s", tg.logText())
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestGateRefusesOtherUser: a peer of another user (SO_PEERCRED) gets no
// answer; the refusal is counted and logged.
func TestGateRefusesOtherUser(t *testing.T) {
	tg := newTestGate(t)
	tg.Gate.mu.Lock()
	tg.uid = os.Getuid() + 1
	tg.Gate.mu.Unlock()
	_, err := send(tg.Socket(), []byte(`{"op":"seal"}`))
	if err == nil {
		t.Fatal("another user's request was answered")
	}
	tg.Gate.mu.Lock()
	tg.uid = os.Getuid()
	tg.Gate.mu.Unlock()
	if st := tg.ask(t, Request{Op: OpStatus}); st.Refused != 1 || !st.Sealed {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(tg.logText(), "reached the socket") {
		t.Fatalf("log: %s", tg.logText())
	}
}

// TestStaleSockets: a socket left by a killed service is removed by the
// next one and skipped by the client; none left is ErrNoService.
func TestStaleSockets(t *testing.T) {
	dir := shortDir(t)
	os.Mkdir(filepath.Join(dir, RunDir), 0o700)
	stale := SocketPath(dir, "kmc-serve", 1)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Send(dir, Request{Op: OpStatus}); !errors.Is(err, ErrNoService) {
		t.Fatalf("only a stale socket: %v", err)
	}
	g, err := Listen(Config{Dir: dir, Service: "kmc-serve", Component: "kmc", Officers: []string{"a"},
		Verify: func(keystore.Component) error { return nil }, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the stale socket is still there: %v", err)
	}
	fi, err := os.Stat(g.Socket())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	// A second service's stale-socket check connects and closes: a probe,
	// not a refused request.
	removeStale(filepath.Join(dir, RunDir))
	// (The gate serves one connection at a time: this status follows it.)
	if sts, err := Send(dir, Request{Op: OpStatus}); err != nil || len(sts) != 1 || sts[0].Refused != 0 {
		t.Fatalf("a probe counted as a refusal: %+v %v", sts, err)
	}
	g.Close()
	if _, err := os.Stat(g.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Close left the socket: %v", err)
	}
}

// TestListenRefusals: a socket path over the sun_path limit and a run
// directory open to others are refused with a clear error.
func TestListenRefusals(t *testing.T) {
	cfg := Config{Service: "kmc-serve", Component: "kmc", Officers: []string{"a"}, Logf: t.Logf}
	cfg.Dir = filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	if _, err := Listen(cfg); err == nil || !strings.Contains(err.Error(), "longer than the 107") {
		t.Fatalf("long path: %v", err)
	}
	dir := shortDir(t)
	os.Mkdir(filepath.Join(dir, RunDir), 0o755)
	os.Chmod(filepath.Join(dir, RunDir), 0o755)
	cfg.Dir = dir
	if _, err := Listen(cfg); err == nil || !strings.Contains(err.Error(), "want 0700") {
		t.Fatalf("run dir 0755: %v", err)
	}
}

// TestPort: sealed, a connection is greeted and closed; in a phase it is
// handed to the phase's listener; closed, the port seals again.
func TestPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := NewPort(ln, "421 sealed\r\n")
	defer p.Close()
	greeting := func() string {
		c, err := net.Dial("tcp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if g := greeting(); g != "421 sealed\r\n" {
		t.Fatalf("sealed: %q", g)
	}
	ph := p.Open()
	go func() {
		c, err := ph.Accept()
		if err == nil {
			c.Write([]byte("220 hello\r\n"))
			c.Close()
		}
	}()
	if g := greeting(); g != "220 hello\r\n" {
		t.Fatalf("open: %q", g)
	}
	ph.Close()
	if _, err := ph.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if g := greeting(); g != "421 sealed\r\n" {
		t.Fatalf("sealed again: %q", g)
	}
}

// FuzzParseRequest: any input parses or is refused with ErrRequest,
// without a panic, and a refusal never quotes the passphrase.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"op":"unseal","officer":"alice","passphrase":"cHc="}`))
	f.Add([]byte(`{"op":"status"}`))
	f.Add([]byte(`{"op":"seal","officer":"x"}`))
	f.Add([]byte(`{"op":"unseal","officer":"","passphrase":"%%%"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			if !errors.Is(err, ErrRequest) || r.Op != "" || r.Passphrase != nil {
				t.Fatalf("refusal %v with %+v", err, r)
			}
			return
		}
		if err := r.check(); err != nil {
			t.Fatalf("accepted a request that breaks the protocol: %v", err)
		}
	})
}
