package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/netguard"
	"github.com/stskms/stskms/internal/syncbuf"
	"github.com/stskms/stskms/sm/api/sts6"
)

// floodNofile is the descriptor limit of the flooded children, and
// floodConns how many connections a flood opens: well over the limit.
const (
	floodNofile = 64
	floodConns  = 150
)

// child is a stskms process run under a small descriptor limit.
type child struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  syncbuf.Buffer // the child's output
	done chan error
}

// startLimited runs "stskms args…" (the test binary, by testscript.Main)
// with at most nofile open descriptors.
func startLimited(t *testing.T, nofile int, args ...string) *child {
	t.Helper()
	bin, err := exec.LookPath("stskms")
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile)
	c := &child{t: t, cmd: exec.Command("sh", append([]string{"-c", script, bin}, args...)...), done: make(chan error, 1)}
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	c.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// grab waits for the child to say something matching each expression
// and returns their first submatches, in order.
func (c *child) grab(res ...string) []string {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out := c.out.String()
		var got []string
		for _, re := range res {
			if m := regexp.MustCompile(re).FindStringSubmatch(out); m != nil {
				got = append(got, m[1])
			}
		}
		if len(got) == len(res) {
			return got
		}
		c.alive()
		if time.Now().After(deadline) {
			c.t.Fatalf("the child never said %q:\n%s", res, out)
		}
	}
}

// alive fails the test if the child has ended.
func (c *child) alive() {
	c.t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		c.t.Fatalf("the child ended: %v\n%s", err, c.out.String())
	default:
	}
}

// stop ends the child with SIGTERM; it must exit 0.
func (c *child) stop() {
	c.t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			c.t.Fatalf("the child, stopped, exited %v\n%s", err, c.out.String())
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("the child did not stop on SIGTERM\n%s", c.out.String())
	}
}

// floodAndRecover opens floodConns connections to addr, waits for the
// child to say it ran out of descriptors accepting on addr, checks it is
// still up, releases the flood and waits for serves to succeed again.
func (c *child) floodAndRecover(name, addr string, serves func() error) {
	c.t.Helper()
	var conns []net.Conn
	for range floodConns {
		d := net.Dialer{Timeout: 2 * time.Second}
		if conn, err := d.Dial("tcp", addr); err == nil {
			conns = append(conns, conn)
		}
	}
	c.grab(`accept on ` + regexp.QuoteMeta(addr) + ` failed: (.*too many open files)`)
	c.alive()
	for _, conn := range conns {
		conn.Close()
	}
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = serves(); err == nil {
			break
		}
	}
	if err != nil {
		c.t.Fatalf("%s does not serve after the flood: %v\n%s", name, err, c.out.String())
	}
	c.alive()
}

// httpServes makes one GET of url on a fresh connection; any HTTP answer
// is service.
func httpServes(url string, want int) func() error {
	return func() error {
		cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// lineServes connects to addr, sends hello (if any) and wants the first
// line of the answer to start with want.
func lineServes(addr string, hello []byte, want string, delim byte) func() error {
	return func() error {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if hello != nil {
			if _, err := conn.Write(hello); err != nil {
				return err
			}
		}
		line, err := bufio.NewReader(conn).ReadString(delim)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, want) {
			return fmt.Errorf("answered %q", line)
		}
		return nil
	}
}

// floodFlags let one client address exhaust the descriptors (the default
// per-address cap, 32, would refuse it before): the test is of exhaustion.
var floodFlags = []string{"--max-conns-per-ip", "1000", "--max-conns", "1000"}

// TestSMServeSurvivesFlood: "sm serve" under 64 descriptors, its HTTP and
// its STS6 port each flooded with 150 connections, runs out of
// descriptors, says so, and serves again once the flood is gone; it never
// exits, and stops cleanly on SIGTERM.
func TestSMServeSurvivesFlood(t *testing.T) {
	dir := initTestSM(t)
	c := startLimited(t, floodNofile, append([]string{"sm", "serve", "--dir", dir, "--http", "127.0.0.1:0", "--listen", "127.0.0.1:0"}, floodFlags...)...)
	a := c.grab(`HTTP API on http://(\S+)`, `STS6 API on (\S+)`)
	di, _ := sts6.Frame{Cmd: "DI"}.Encode()
	c.floodAndRecover("the HTTP API", a[0], httpServes("http://"+a[0]+"/v1/identify", http.StatusOK))
	c.floodAndRecover("the STS6 API", a[1], lineServes(a[1], di, "SM!DI00", '\r'))
	c.stop()
	t.Logf("sm serve said:\n%s", c.out.String())
}

// TestKMCServeSurvivesFlood: the same for "kmc serve".
func TestKMCServeSurvivesFlood(t *testing.T) {
	dir := initTestKMC(t)
	c := startLimited(t, floodNofile, append([]string{"kmc", "serve", "--dir", dir, "--http", "127.0.0.1:0"}, floodFlags...)...)
	a := c.grab(`admin API on http://(\S+)`)
	c.floodAndRecover("the admin API", a[0], httpServes("http://"+a[0]+"/v1/identity", http.StatusUnauthorized))
	c.stop()
}

// TestGatewayServeSurvivesFlood: the same for "gateway serve", its mail
// port and its metrics port.
func TestGatewayServeSurvivesFlood(t *testing.T) {
	dir := initTestKMC(t)
	c := startLimited(t, floodNofile, append([]string{"gateway", "serve", "--dir", dir, "--address", "kmc@kms.example.com",
		"--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--auth", "off"}, floodFlags...)...)
	a := c.grab(`"msg":"gateway: serving","listen":"([^"]+)"`, `"url":"http://([^/"]+)/metrics"`)
	c.floodAndRecover("the mail port", a[0], lineServes(a[0], nil, "220 ", '\n'))
	c.floodAndRecover("the metrics", a[1], httpServes("http://"+a[1]+"/metrics", http.StatusOK))
	c.stop()
}

// stoppingListener accepts nothing: its Accept fails for good at once.
type stoppingListener struct {
	net.Listener
	err error
}

func (s stoppingListener) Accept() (net.Conn, error) { return nil, s.err }

// TestServerStoppedEndsServe: when the STS6 server stops for good (its
// listener fails with a permanent error) sm serve stops serving, also the
// HTTP API, and returns the reason, which makes the process exit 1
// (report); the same for the HTTP API.
func TestServerStoppedEndsServe(t *testing.T) {
	broken := errors.New("listener broken for good")
	for _, which := range []string{"STS6", "HTTP"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var httpLn, stsLn net.Listener = ln, sln
		if which == "STS6" {
			stsLn = stoppingListener{sln, broken}
		} else {
			httpLn = stoppingListener{ln, broken}
		}
		web := &apiServer{srv: &http.Server{Handler: http.NotFoundHandler()}, label: "HTTP API"}
		timeout, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ctx, fail := context.WithCancelCause(timeout)
		web.serve(ctx, httpLn, fail)
		serveSTS6(fail, sts6.NewServer(nil, sts6.Config{}), stsLn)
		<-ctx.Done()
		err = stopReason(ctx)
		timedOut := timeout.Err() != nil
		web.wait()
		cancel()
		ln.Close()
		sln.Close()
		if !errors.Is(err, broken) || !strings.Contains(err.Error(), which+" API on ") || timedOut {
			t.Fatalf("%s stopped: serve returned %v (timed out: %v)", which, err, timedOut)
		}
		var out bytes.Buffer
		if rc := report(&env{stderr: &out}, "stskms sm serve", err); rc != 1 || !strings.Contains(out.String(), "stopped: listener broken for good; exiting") {
			t.Fatalf("%s stopped: exit %d, said %q", which, rc, out.String())
		}
	}
}

// TestSMTPRefusedOverCap: a mail connection over the per-address cap is
// answered 421 and closed.
func TestSMTPRefusedOverCap(t *testing.T) {
	ln, err := listenSMTP("127.0.0.1:0", netguard.Limits{MaxConnsPerIP: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	held, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	go ln.Accept()
	if err := lineServes(ln.Addr().String(), nil, "421 4.7.0 ", '\n')(); err != nil {
		t.Fatalf("the connection over the cap: %v", err)
	}
}

// TestListenFlagsChecked: a limit that is not positive is refused before
// anything is opened.
func TestListenFlagsChecked(t *testing.T) {
	for _, args := range [][]string{
		{"kmc", "serve", "--dir", t.TempDir(), "--max-conns", "0"},
		{"sm", "serve", "--dir", t.TempDir(), "--max-conns-per-ip", "-1"},
		{"gateway", "serve", "--dir", t.TempDir(), "--address", "kmc@example.com", "--idle-timeout", "0s"},
	} {
		var out bytes.Buffer
		if rc := run(args, strings.NewReader(""), &out, &out); rc != 1 || !strings.Contains(out.String(), "want ") {
			t.Errorf("%q: exit %d, said %q", args, rc, out.String())
		}
	}
}
