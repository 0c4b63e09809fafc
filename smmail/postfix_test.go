package smmail

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/postfixtest"
	"github.com/stskms/stskms/internal/testcert"
)

// startProxy forwards the connections it accepts to addr and counts them
// (a count exact once the client has heard the greeting through it).
func startProxy(t *testing.T, addr string) (string, *countingListener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := cl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }() //nolint:errcheck // ends with the conn
				io.Copy(c, up)                                                 //nolint:errcheck // ends with the conn
			}()
		}
	}()
	return l.Addr().String(), cl
}

// TestStockPostfixByIP: a real Postfix offers STARTTLS with a certificate
// for its host name (mx.kms.test, issued by a CA); the client reaches it
// by IP. With the server name and the CA it submits over TLS in one
// session that says EHLO with the client's host name and ends with QUIT
// (Postfix logs quit=1), and the mail reaches the next hop. Without them
// the certificate does not verify for 127.0.0.1 — by the CA given, or by
// the system's roots — and the submission fails at once: one connection,
// a *CertificateError naming the server name, nothing sent. Needs Postfix
// and root; skipped without them unless CI=true.
func TestStockPostfixByIP(t *testing.T) {
	postfix := postfixtest.Require(t)
	ca := testcert.NewCA(t)
	cert := ca.Issue(t, postfixtest.Hostname)
	g, gwAddr := startFake(t, func(subj string) []string { return []string{reply(subj, "Success\tok", "")} })
	pfAddr := postfixtest.FreeAddr(t)
	pf := postfixtest.Start(t, postfix, postfixtest.Config{Listen: pfAddr, NextHop: gwAddr, Cert: &cert})
	addr, conns := startProxy(t, pfAddr)
	client := func(cfg *tls.Config) *Client {
		return &Client{Submit: addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: g.box, TLSConfig: cfg,
			Hostname: "client.utility.test", Timeout: time.Minute, Retries: 3, RetryGap: 10 * time.Millisecond}
	}
	defer func() {
		if t.Failed() {
			t.Logf("Postfix log:\n%s", pf.Log())
		}
	}()

	c := client(&tls.Config{ServerName: postfixtest.Hostname, RootCAs: ca.Pool()})
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err != nil {
		t.Fatal(err)
	}
	if n := conns.n.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	raw, _ := g.last.Load().([]byte)
	if want := "Received: from client.utility.test (localhost [127.0.0.1])"; !strings.Contains(string(raw), want) {
		t.Errorf("the mail lacks %q:\n%s", want, raw)
	}
	pf.WaitLog(t, func(l string) bool {
		return strings.Contains(l, "disconnect from") && strings.Contains(l, "starttls=1") && strings.Contains(l, "quit=1")
	})
	pf.WaitLog(t, func(l string) bool { return strings.Contains(l, "helo=<client.utility.test>") })

	for name, cfg := range map[string]*tls.Config{"the CA but no server name": {RootCAs: ca.Pool()}, "neither": nil} {
		before := conns.n.Load()
		_, err := client(cfg).Request(context.Background(), GetPublicKey, "")
		var ce *CertificateError
		if !errors.As(err, &ce) || ce.ServerName != "127.0.0.1" || !strings.Contains(err.Error(), `server name "127.0.0.1"`) {
			t.Errorf("%s: err %v, want a *CertificateError for 127.0.0.1", name, err)
		}
		if n := conns.n.Load() - before; n != 1 {
			t.Errorf("%s: %d connections, want 1: a certificate failure is final", name, n)
		}
	}
	if n := g.got.Load(); n != 1 {
		t.Errorf("%d mails reached the next hop, want 1", n)
	}
}
