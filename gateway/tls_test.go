package gateway

import (
	"crypto/tls"
	"errors"
	netsmtp "net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/smtpsink"
	"github.com/stskms/stskms/internal/testcert"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/store"
)

// authSinkSession is a sink session that takes AUTH PLAIN and records who
// logged in, and whether the connection was encrypted.
type authSinkSession struct {
	*smtpsink.Session
	conn *smtp.Conn
	user *string
	tls  *bool
}

func (s *authSinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *authSinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "gw" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		*s.user = user
		_, *s.tls = s.conn.TLSConnectionState()
		return nil
	}), nil
}

// TestRelayStartTLSAuth: with a TLS configuration the relay is reached
// over STARTTLS (required), and AUTH PLAIN is used inside it.
func TestRelayStartTLSAuth(t *testing.T) {
	cert, pool := testcert.SelfSigned(t, "localhost")
	each(t, func(t *testing.T, db *store.DB) {
		var user string
		var overTLS bool
		tlsSink := func(offer bool) *sink {
			return newSink(t, func(srv *smtp.Server, s *sink) {
				if offer {
					srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
				}
				srv.Backend = smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
					return &authSinkSession{Session: s.Session(c), conn: c, user: &user, tls: &overTLS}, nil
				})
			})
		}
		h := newHarness(t, db, nil)
		h.sink = tlsSink(true)
		h.gw.sender = &Relay{Addr: h.sink.Addr, TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"},
			Username: "gw", Password: "s3cret"}
		h.request(reqMail(""))
		h.drain()
		if n := len(h.sink.messages()); n != 1 || user != "gw" || !overTLS {
			t.Fatalf("%d sent, user %q, TLS %v", n, user, overTLS)
		}

		// A relay that does not offer STARTTLS is refused when TLS is required.
		h.gw.sender = &Relay{Addr: tlsSink(false).Addr, TLS: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
		h.request(helpN(1))
		h.drain()
		q := h.queue()
		if r := q[1].Replies[0]; r.State != OutPending || !strings.Contains(r.LastError, "STARTTLS") {
			t.Errorf("outbox %+v", r)
		}
	})
}

// TestInboundStartTLS: the server offers STARTTLS with its certificate.
func TestInboundStartTLS(t *testing.T) {
	cert, pool := testcert.SelfSigned(t, "localhost")
	each(t, func(t *testing.T, db *store.DB) {
		h := &harness{t: t, db: db, clock: testclock.New(time.Now().UTC().Truncate(time.Second)), sink: newSink(t),
			opts: ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}}
		h.kmc = newFakeKMC(t, h.clock.Now)
		h.cfg = Config{Address: gwAddr, Now: h.clock.Now, Limits: &Limits{}, Logger: testLogger(t)}
		h.start()
		c, err := netsmtp.Dial(h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Fatal("STARTTLS not offered")
		}
		if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail(alice); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(gwAddr); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(reqMail("")))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		h.drain()
		if p := h.one(); p.result.Kind != gwresult.Success {
			t.Errorf("result %+v", p.result)
		}
	})
}
