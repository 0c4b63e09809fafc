package smmail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gwresult"
)

// fakeGateway is an SMTP server that answers each request, by calling
// answer with its Subject, with the replies it returns, delivered to box.
type fakeGateway struct {
	box    *Listener
	answer func(subject string) []string // raw replies
	got    atomic.Int32
	last   atomic.Value // []byte: the last request mail as received
	refuse atomic.Int32 // refuse this many submissions with refuseCode
	// refuseCode is the reply code of a refused MAIL (default 451).
	refuseCode int
}

type fakeSession struct{ g *fakeGateway }

func (s *fakeSession) Reset()        {}
func (s *fakeSession) Logout() error { return nil }
func (s *fakeSession) Mail(string, *smtp.MailOptions) error {
	if s.g.refuse.Add(-1) >= 0 {
		if s.g.refuseCode != 0 {
			return &smtp.SMTPError{Code: s.g.refuseCode, Message: "refused"}
		}
		return &smtp.SMTPError{Code: 451, Message: "try later"}
	}
	return nil
}
func (s *fakeSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *fakeSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.g.last.Store(raw)
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	subj, _ := mr.Header.Subject()
	from, _ := mr.Header.AddressList("From")
	s.g.got.Add(1)
	for _, raw := range s.g.answer(subj) {
		s.g.box.deliver([]string{from[0].Address}, []byte(raw))
	}
	return nil
}

func startFake(t *testing.T, answer func(string) []string) (*fakeGateway, string) {
	t.Helper()
	box, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	g := &fakeGateway{box: box, answer: answer}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &fakeSession{g: g}, nil }))
	srv.Domain = "gw.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = nopLogger{}
	return g, serveLoopback(t, srv)
}

// serveLoopback serves srv, an SMTP or IMAP server, on a new loopback port
// until t ends, and returns its address.
func serveLoopback(t *testing.T, srv interface {
	Serve(net.Listener) error
	Close() error
}) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func reply(subject, result, body string) string {
	return "From: <kmc@kms.test>\r\nTo: <op@utility.test>\r\nSubject: Re: " + subject + "\r\n" +
		gwresult.HeaderName + ": " + result + "\r\nContent-Type: text/plain\r\n\r\n" + body
}

func TestRequestFollowsNotices(t *testing.T) {
	g, addr := startFake(t, func(subj string) []string {
		return []string{
			reply(subj+"x", "Success\tnot ours", ""), // another tag
			reply(subj, "Notice\tDeferred\tlater\t20260101T000000Z", ""),
			reply(subj, "Success\tdone", "KMC Public Key Fingerprint: 0123456789ABCDEF\r\n"),
		}
	})
	var progress []string
	c := &Client{Submit: addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: g.box,
		Timeout: 5 * time.Second, Progress: func(s string) { progress = append(progress, s) }}
	r, err := c.Request(context.Background(), GetPublicKey, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Fingerprint() != "0123456789ABCDEF" || r.Result.Text != "done" {
		t.Errorf("reply %+v", r)
	}
	if !strings.Contains(strings.Join(progress, "\n"), "notice: Notice | Deferred") {
		t.Errorf("progress %q", progress)
	}
}

func TestRequestError(t *testing.T) {
	for _, code := range []string{gwresult.EUnknownSm, gwresult.ENotAuthorisedSender, gwresult.EVkloadReplayed, gwresult.EInternal} {
		g, addr := startFake(t, func(subj string) []string {
			return []string{reply(subj, "Error\t"+code+"\tsomething\tp1", "")}
		})
		c := &Client{Submit: addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: g.box, Timeout: 5 * time.Second}
		_, err := c.Request(context.Background(), GetKlf, "body")
		var ge *Error
		if !errors.As(err, &ge) || ge.Code() != code || CodeOf(err) != code || !errors.Is(err, ErrorCode(code)) {
			t.Fatalf("%s: %v", code, err)
		}
		if errors.Is(err, ErrInternal) != (code == gwresult.EInternal) || Advice(code) == "" {
			t.Errorf("%s: Is/Advice", code)
		}
	}
}

func TestRequestTimeoutAndRetry(t *testing.T) {
	g, addr := startFake(t, func(string) []string { return nil })
	g.refuse.Store(1)
	var progress []string
	c := &Client{Submit: addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: g.box,
		Timeout: 300 * time.Millisecond, RetryGap: 10 * time.Millisecond, Progress: func(s string) { progress = append(progress, s) }}
	_, err := c.Request(context.Background(), GetPublicKey, "")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v", err)
	}
	if g.got.Load() != 1 || !strings.Contains(strings.Join(progress, "\n"), "trying again") {
		t.Errorf("got %d, progress %q", g.got.Load(), progress)
	}
	c.Retries = -1
	g.refuse.Store(1)
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err == nil || errors.Is(err, ErrTimeout) {
		t.Errorf("no retries: %v", err)
	}
}

func TestRefusesLiveKMC(t *testing.T) {
	g, addr := startFake(t, func(string) []string { return nil })
	for _, to := range []string{LiveGateway, "STSA_KMC_01@STSKMS.ORG.ZA", " stsa_kmc_01@stskms.org.za ", "KMC <Stsa_Kmc_01@stskms.org.za>"} {
		c := &Client{Submit: addr, Gateway: to, From: "op@utility.test", Mailbox: g.box}
		if _, err := c.Request(context.Background(), GetPublicKey, ""); !errors.Is(err, ErrLiveKMC) {
			t.Errorf("%q: %v", to, err)
		}
	}
	if g.got.Load() != 0 {
		t.Error("mail reached the server")
	}
	if IsLive("kmc@kms.test") {
		t.Error("IsLive(test)")
	}
}

// peerConn is a connection whose peer address is addr.
type peerConn struct {
	net.Conn
	addr net.Addr
}

func (c peerConn) RemoteAddr() net.Addr { return c.addr }

// TestPlainOnlyOnLoopback: plain SMTP and IMAP are judged on the address
// connected to, never on the name dialled: a connection to a LAN address
// is not loopback, whatever "localhost" names it.
func TestPlainOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:25", true}, {"127.3.4.5:25", true}, {"[::1]:25", true}, {"[::ffff:127.0.0.1]:25", true},
		{"192.0.2.1:25", false}, {"[2001:db8::1]:25", false}, {"10.0.0.1:25", false},
	} {
		ap := netip.MustParseAddrPort(tc.addr)
		if got := loopbackConn(peerConn{addr: net.TCPAddrFromAddrPort(ap)}); got != tc.want {
			t.Errorf("%s: loopback %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestParseReplyAttachment(t *testing.T) {
	raw := "From: <kmc@kms.test>\r\nSubject: Re: {KMS:GetKlfStsEd2} smmail-1\r\n" + gwresult.HeaderName + ": Success\tok\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"a.klf\"\r\n\r\nnot records\r\n--B--\r\n"
	r, err := ParseReply([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if r.Tag() != "smmail-1" || !r.Final() || len(r.Files) != 1 || r.Files[0].Name != "a.klf" || !strings.Contains(r.Text, "hello") {
		t.Fatalf("%+v", r)
	}
	if _, _, err := r.KLF(); err == nil {
		t.Error("KLF of garbage")
	}
	if _, err := ParseReply([]byte("Subject: x\r\n\r\nbody")); err == nil {
		t.Error("a mail without X-Gateway-Result parsed")
	}
}

func TestBlockedEndsTheWait(t *testing.T) {
	g, addr := startFake(t, func(subj string) []string {
		return []string{reply(subj, "Notice\tBlocked\ttoo many requests\t20260101T000000Z", "")}
	})
	c := &Client{Submit: addr, Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: g.box, Timeout: 5 * time.Second}
	start := time.Now()
	_, err := c.Request(context.Background(), GetKlf, "x")
	if !errors.Is(err, ErrBlocked) || CodeOf(err) != gwresult.Blocked || time.Since(start) > 3*time.Second {
		t.Fatalf("err %v", err)
	}
}

func TestBadAddresses(t *testing.T) {
	g, addr := startFake(t, func(string) []string { return nil })
	for _, from := range []string{"op@utility.test\r\nBcc: x@y", "Op <op@utility.test>", ""} {
		c := &Client{Submit: addr, Gateway: "kmc@kms.test", From: from, Mailbox: g.box}
		if _, err := c.Request(context.Background(), GetKlf, "x"); err == nil {
			t.Errorf("from %q accepted", from)
		}
	}
	if g.got.Load() != 0 {
		t.Error("mail sent")
	}
}
