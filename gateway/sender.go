package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Sender hands a reply to the mail system.
type Sender interface {
	// Send delivers msg from the envelope sender from ("" is <>) to the
	// recipients. An error wrapping ErrPermanent will not succeed if
	// tried again; any other is retried.
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// ErrPermanent marks a send the relay refused for good (5xx).
var ErrPermanent = errors.New("gateway: relay refused the message permanently")

// Relay sends replies through an SMTP relay (submission): the site's MTA,
// Postfix on loopback, or a provider's submission port.
type Relay struct {
	// Addr is host:port of the relay.
	Addr string
	// Hostname is the name given in EHLO (default "localhost").
	Hostname string
	// TLS, if set, is used for STARTTLS, which is then required: a relay
	// that does not offer it is an error. Without TLS, STARTTLS is used
	// only if the relay offers it, with the system's roots and Addr's
	// host name (never on loopback, where there is nothing to protect).
	TLS *tls.Config
	// Username and Password, if set, authenticate with AUTH PLAIN, only
	// over TLS or to a loopback relay.
	Username, Password string
	// Timeout bounds one send (default 1 minute).
	Timeout time.Duration
}

// Send implements Sender. Where the relay offers DSN (RFC 3461) it asks,
// for the null sender <>, for no delivery status notifications at all
// (RCPT NOTIFY=NEVER, RFC 3834 §3.3); for a bounce address, for
// notifications of failure and delay with the headers only (NOTIFY=FAILURE,DELAY,
// RET=HDRS) and, if the address is a VERP one (local+ID@domain), ENVID=ID.
func (r *Relay) Send(ctx context.Context, from string, to []string, msg []byte) (err error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			err = fmt.Errorf("%w: %w", ErrPermanent, err)
		} else if err != nil {
			err = fmt.Errorf("gateway: relay %s: %w", r.Addr, err)
		}
	}()
	name := r.Hostname
	if name == "" {
		name = "localhost"
	}
	host, _, _ := net.SplitHostPort(r.Addr)
	// Loopback is judged on the address connected to, not on the name.
	c, loopback, err := r.dial(ctx, timeout, nil)
	if err != nil {
		return err
	}
	defer func() { c.Close() }()
	if err := c.Hello(name); err != nil {
		return err
	}
	offered, _ := c.Extension("STARTTLS")
	secure := false
	switch {
	case r.TLS != nil && !offered:
		return errors.New("relay does not offer STARTTLS")
	case r.TLS != nil || offered && !loopback:
		// go-smtp starts TLS only on a fresh connection.
		c.Close()
		cfg := r.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host}
		}
		if c, _, err = r.dial(ctx, timeout, cfg); err != nil {
			return err
		}
		if err := c.Hello(name); err != nil {
			return err
		}
		secure = true
	}
	if r.Username != "" {
		if !secure && !loopback {
			return errors.New("refusing to send the relay password without TLS")
		}
		if err := c.Auth(sasl.NewPlainClient("", r.Username, r.Password)); err != nil {
			return err
		}
	}
	mopts, ropts := dsnOptions(c, from)
	if err := c.Mail(from, mopts); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, ropts); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	c.Quit()
	return nil
}

// dsnOptions are the DSN parameters of a send from from, if the relay
// offers DSN.
func dsnOptions(c *smtp.Client, from string) (*smtp.MailOptions, *smtp.RcptOptions) {
	if ok, _ := c.Extension("DSN"); !ok {
		return nil, nil
	}
	if from == "" {
		return nil, &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyNever}}
	}
	m := &smtp.MailOptions{Return: smtp.DSNReturnHeaders}
	local, _ := splitAddress(from)
	if _, id, ok := strings.Cut(local, "+"); ok {
		m.EnvelopeID = id
	}
	return m, &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed}}
}

// dial connects to the relay, with STARTTLS under cfg if not nil, and
// says whether the address connected to is loopback; the connection closes
// when ctx ends.
func (r *Relay) dial(ctx context.Context, timeout time.Duration, cfg *tls.Config) (*smtp.Client, bool, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return nil, false, err
	}
	loopback := isLoopback(conn.RemoteAddr())
	context.AfterFunc(ctx, func() { conn.Close() })
	var c *smtp.Client
	if cfg != nil {
		if c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			conn.Close()
			return nil, false, fmt.Errorf("STARTTLS: %w", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
	return c, loopback, nil
}

// isLoopback reports whether a connection's peer address is loopback.
func isLoopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
