package smmail

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/internal/syncbuf"
	"github.com/stskms/stskms/internal/testcert"
)

// mxName is the host name the test servers' certificates carry; the
// clients connect to 127.0.0.1, as to a stock Postfix addressed by IP.
const mxName = "mx.kms.test"

// transcript is a server's Debug writer: what was said on every session,
// in the clear (the server writes it after TLS decryption).
type transcript struct{ syncbuf.Buffer }

// lines returns the lines the client sent that start with verb.
func (t *transcript) lines(verb string) []string {
	var out []string
	for _, l := range strings.Split(t.String(), "\r\n") {
		if strings.HasPrefix(strings.ToUpper(l), verb) {
			out = append(out, l)
		}
	}
	return out
}

// countingListener counts the connections it accepts; the first
// dropFirst of them are closed at once (a network failure).
type countingListener struct {
	net.Listener
	n         atomic.Int32
	dropFirst int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.n.Add(1) > l.dropFirst {
			return c, nil
		}
		c.Close()
	}
}

// tlsServer is a fake gateway that offers STARTTLS with a certificate for
// mxName issued by ca, records its transcript and counts connections.
type tlsServer struct {
	*fakeGateway
	addr  string
	ca    *testcert.CA
	log   *transcript
	conns *countingListener
}

func startTLSServer(t *testing.T, dropFirst int32) *tlsServer {
	t.Helper()
	g, _ := startFake(t, func(subj string) []string { return []string{reply(subj, "Success\tok", "")} })
	ca := testcert.NewCA(t)
	s := &tlsServer{fakeGateway: g, ca: ca, log: &transcript{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &fakeSession{g: g}, nil }))
	srv.Domain = mxName
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, mxName)}}
	srv.Debug = s.log
	srv.ErrorLog = nopLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.conns = &countingListener{Listener: l, dropFirst: dropFirst}
	s.addr = l.Addr().String()
	go srv.Serve(s.conns) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *tlsServer) client(cfg *tls.Config) *Client {
	return &Client{Submit: s.addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: s.box,
		TLSConfig: cfg, Hostname: "client.utility.test", Timeout: 5 * time.Second, RetryGap: time.Millisecond}
}

// TestServerNameAndCA: a server addressed by IP whose certificate names a
// host is reached with that server name and the CA that issued it: one
// connection, EHLO with the client's host name before and after STARTTLS
// (never "localhost"), and QUIT.
func TestServerNameAndCA(t *testing.T) {
	s := startTLSServer(t, 0)
	c := s.client(&tls.Config{ServerName: mxName, RootCAs: s.ca.Pool()})
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err != nil {
		t.Fatal(err)
	}
	if n := s.conns.n.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (no probe)", n)
	}
	if got := s.log.lines("EHLO"); len(got) != 2 || got[0] != "EHLO client.utility.test" || got[1] != got[0] {
		t.Errorf("EHLO lines %q", got)
	}
	if got := s.log.lines("STARTTLS"); len(got) != 1 {
		t.Errorf("STARTTLS lines %q", got)
	}
	if got := s.log.lines("QUIT"); len(got) != 1 {
		t.Errorf("QUIT lines %q, want one", got)
	}
}

// TestCertificateFailureIsFinal: a certificate that does not verify — the
// name it carries is not the one dialled, or its CA is not trusted — ends
// the submission after one connection with a *CertificateError naming the
// server name, however many retries are allowed.
func TestCertificateFailureIsFinal(t *testing.T) {
	for name, cfg := range map[string]*tls.Config{
		"wrong name":   {RootCAs: nil}, // server name 127.0.0.1 and, below, the right CA
		"unknown CA":   {ServerName: mxName, RootCAs: testcert.NewCA(t).Pool()},
		"system roots": {ServerName: mxName},
	} {
		t.Run(name, func(t *testing.T) {
			s := startTLSServer(t, 0)
			if name == "wrong name" {
				cfg.RootCAs = s.ca.Pool()
			}
			c := s.client(cfg)
			c.Retries = 3
			_, err := c.Request(context.Background(), GetPublicKey, "")
			var ce *CertificateError
			if !errors.As(err, &ce) || ce.Proto != "SMTP" || ce.Server != s.addr {
				t.Fatalf("err %v, want a *CertificateError", err)
			}
			want := cfg.ServerName
			if want == "" {
				want = "127.0.0.1"
			}
			if ce.ServerName != want || !strings.Contains(err.Error(), `server name "`+want+`"`) {
				t.Errorf("server name %q in %v, want %q", ce.ServerName, err, want)
			}
			if n := s.conns.n.Load(); n != 1 {
				t.Errorf("%d connections, want 1: a certificate failure is final", n)
			}
			if s.got.Load() != 0 {
				t.Error("the mail was sent")
			}
		})
	}
}

// TestNetworkFailureRetried: a connection that drops is tried again.
func TestNetworkFailureRetried(t *testing.T) {
	s := startTLSServer(t, 1)
	var progress []string
	c := s.client(&tls.Config{ServerName: mxName, RootCAs: s.ca.Pool()})
	c.Progress = func(m string) { progress = append(progress, m) }
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err != nil {
		t.Fatal(err)
	}
	if n := s.conns.n.Load(); n != 2 || !strings.Contains(strings.Join(progress, "\n"), "trying again") {
		t.Errorf("%d connections, progress %q; want 2 and a retry", n, progress)
	}
}

// TestQuitAfterRefusal: a session the server refuses (a 5xx reply, or a
// server without STARTTLS when TLS is required) still ends with QUIT, and
// is not tried again.
func TestQuitAfterRefusal(t *testing.T) {
	s := startTLSServer(t, 0)
	s.refuse.Store(1)
	c := s.client(&tls.Config{ServerName: mxName, RootCAs: s.ca.Pool()})
	c.Retries = 3
	s.fakeGateway.refuseCode = 550
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("err %v, want the 550", err)
	}
	if n := s.conns.n.Load(); n != 1 || len(s.log.lines("QUIT")) != 1 {
		t.Errorf("%d connections, QUIT lines %q", n, s.log.lines("QUIT"))
	}

	// A plain server on loopback, but a server name was given: refused.
	g, addr := startFake(t, func(string) []string { return nil })
	c = &Client{Submit: addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: g.box,
		TLSConfig: &tls.Config{ServerName: mxName}, Retries: 3, RetryGap: time.Millisecond}
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err == nil || !strings.Contains(err.Error(), "no STARTTLS") {
		t.Fatalf("err %v", err)
	}
	if g.got.Load() != 0 {
		t.Error("sent in the clear")
	}
}

// TestHostnameDefault: the EHLO name and Message-ID domain default to the
// machine's name, and to the domain of From when that is unknown or
// localhost; a given name that is not a domain name is refused.
func TestHostnameDefault(t *testing.T) {
	defer func(f func() (string, error)) { osHostname = f }(osHostname)
	c := &Client{From: "op@utility.test", Gateway: "kmc@kms.test"}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"build-7.example.org", nil, "build-7.example.org"},
		{"build7", nil, "build7"},
		{"localhost", nil, "utility.test"},
		{"LOCALHOST.localdomain", nil, "utility.test"},
		{"box.localhost", nil, "utility.test"},
		{"bad_name", nil, "utility.test"},
		{"", errors.New("no name"), "utility.test"},
	} {
		osHostname = func() (string, error) { return tc.name, tc.err }
		if got := c.hostname(); got != tc.want {
			t.Errorf("os.Hostname %q: %q, want %q", tc.name, got, tc.want)
		}
		if msg := string(c.Message(GetKlf, "smmail-1", "x")); !strings.Contains(msg, "Message-ID: <smmail-1@"+tc.want+">") {
			t.Errorf("os.Hostname %q: message\n%s", tc.name, msg)
		}
	}
	osHostname = func() (string, error) { return "localhost", nil }
	if got := (&Client{From: "op@[127.0.0.1]"}).hostname(); got != fallbackHostname {
		t.Errorf("no usable name: %q", got)
	}
	c.Hostname = "Client.Utility.test"
	if got := c.hostname(); got != "Client.Utility.test" {
		t.Errorf("given: %q", got)
	}
	for _, bad := range []string{"a b", "x\r\nBcc: y@z", "-a.test", "a..test", "a.test-", strings.Repeat("a", 64) + ".test", "[127.0.0.1]"} {
		if CheckHostname(bad) == nil {
			t.Errorf("CheckHostname(%q) passed", bad)
		}
		c := &Client{Submit: "127.0.0.1:1", Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: &Listener{}, Hostname: bad}
		if _, err := c.Request(context.Background(), GetKlf, "x"); err == nil || !strings.Contains(err.Error(), "host name") {
			t.Errorf("Hostname %q: %v", bad, err)
		}
	}
}
