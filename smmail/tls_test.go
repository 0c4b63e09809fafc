package smmail

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/internal/testcert"
)

// authSession is a fakeSession that needs AUTH PLAIN (user op, password
// secret) over TLS before MAIL.
type authSession struct {
	fakeSession
	conn   *smtp.Conn
	authed bool
}

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if _, ok := s.conn.TLSConnectionState(); !ok {
			return errors.New("no TLS")
		}
		if user != "op" || pass != "secret" {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}
func (s *authSession) Mail(from string, o *smtp.MailOptions) error {
	if !s.authed {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	return s.fakeSession.Mail(from, o)
}

// TestStartTLSAuth: a server that offers STARTTLS gets TLS, then AUTH PLAIN.
func TestStartTLSAuth(t *testing.T) {
	box, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	g := &fakeGateway{box: box, answer: func(subj string) []string { return []string{reply(subj, "Success\tok", "")} }}
	cert, pool := testcert.SelfSigned(t, "127.0.0.1")
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &authSession{fakeSession: fakeSession{g: g}, conn: c}, nil
	}))
	srv.Domain = "gw.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.ErrorLog = nopLogger{}

	c := &Client{Submit: serveLoopback(t, srv), Gateway: "kmc@kms.test", From: "op@utility.test", Mailbox: box,
		Username: "op", Password: "secret", TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
		Timeout: 5 * time.Second, Retries: -1}
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err != nil {
		t.Fatal(err)
	}
	// Without credentials the server refuses (530, permanent: no retry).
	c.Username = ""
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err == nil {
		t.Fatal("sent without AUTH")
	}
	// An untrusted certificate is refused.
	c.Username, c.TLSConfig = "op", &tls.Config{ServerName: "127.0.0.1"}
	if _, err := c.Request(context.Background(), GetPublicKey, ""); err == nil {
		t.Fatal("TLS to an untrusted certificate")
	}
	if g.got.Load() != 1 {
		t.Errorf("%d requests reached the gateway, want 1", g.got.Load())
	}
}
