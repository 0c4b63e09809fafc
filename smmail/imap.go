package smmail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAP is a Mailbox read over IMAP: the operator's mailbox at a mail
// server, polled for new messages. It does not change the mailbox (it
// fetches with BODY.PEEK and deletes nothing).
type IMAP struct {
	// Addr is the IMAP server, host:port.
	Addr string
	// Username and Password log in.
	Username, Password string
	// Mailbox is the folder to read (default "INBOX").
	Mailbox string
	// ImplicitTLS dials TLS at once (port 993); otherwise STARTTLS is
	// used, except on loopback without TLSConfig, where a plain
	// connection is allowed.
	ImplicitTLS bool
	// TLSConfig: the server name to verify (empty: the host of Addr) and
	// the roots (nil: the system's). Set, it requires TLS even on
	// loopback. A certificate that does not verify fails Wait with a
	// *CertificateError.
	TLSConfig *tls.Config
	// Poll is the interval between looks for new mail (default 2 s).
	Poll time.Duration
}

// dial connects, with TLS unless the server is on loopback and no
// TLSConfig is set, and waits for the greeting (so that a certificate
// failure shows here).
func (m *IMAP) dial() (*imapclient.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.TLSConfig != nil {
		cfg = m.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(m.Addr)
	}
	opts := &imapclient.Options{TLSConfig: cfg, Dialer: &net.Dialer{Timeout: dialTimeout}}
	var c *imapclient.Client
	var err error
	if m.ImplicitTLS {
		c, err = imapclient.DialTLS(m.Addr, opts)
	} else {
		c, err = m.dialPlainOrStartTLS(opts)
	}
	if err == nil {
		if err = c.WaitGreeting(); err != nil {
			c.Close()
		}
	}
	if err != nil {
		return nil, certificateError("IMAP", m.Addr, cfg.ServerName, err)
	}
	return c, nil
}

// dialPlainOrStartTLS connects to m.Addr and speaks plain IMAP when the
// address connected to is loopback and no TLSConfig is set, STARTTLS
// otherwise: judged on the peer's address, never on the name dialled.
func (m *IMAP) dialPlainOrStartTLS(opts *imapclient.Options) (*imapclient.Client, error) {
	conn, err := opts.Dialer.Dial("tcp", m.Addr)
	if err != nil {
		return nil, err
	}
	if loopbackConn(conn) && m.TLSConfig == nil {
		return imapclient.New(conn, opts), nil
	}
	c, err := imapclient.NewStartTLS(conn, opts)
	if err != nil {
		conn.Close()
	}
	return c, err
}

// logout ends a session with LOGOUT (waiting at most logoutWait for the
// answer) and closes the connection.
func logout(c *imapclient.Client) {
	done := make(chan struct{})
	go func() {
		_ = c.Logout().Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(logoutWait):
	}
	c.Close()
}

// logoutWait bounds the wait for the answer to LOGOUT.
const logoutWait = 5 * time.Second

// Close implements Mailbox; each Wait has its own connection.
func (m *IMAP) Close() error { return nil }

// Check opens a session and ends it: the server's certificate, the login
// and the folder are good. Client.Request calls it before sending, so that
// a reply that could not be read is not asked for.
func (m *IMAP) Check(ctx context.Context) error {
	_, err := m.session(ctx, func(context.Context, *imapclient.Client) (*Reply, error) { return nil, nil })
	return err
}

// Wait implements Mailbox. rcpt is not checked: the mailbox is the
// operator's.
func (m *IMAP) Wait(ctx context.Context, rcpt string, match func(*Reply) bool) (*Reply, error) {
	return m.session(ctx, func(ctx context.Context, c *imapclient.Client) (*Reply, error) { return m.poll(ctx, c, match) })
}

// session connects, logs in, selects the folder read-only and runs fn;
// every way out says LOGOUT, and session returns after it: the end of ctx
// (which also ends a command waiting for an answer) or a return. A
// certificate that does not verify is a *CertificateError.
func (m *IMAP) session(ctx context.Context, fn func(context.Context, *imapclient.Client) (*Reply, error)) (*Reply, error) {
	if m.Addr == "" {
		return nil, errors.New("smmail: no IMAP server address")
	}
	c, err := m.dial()
	if err != nil {
		var ce *CertificateError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("smmail: imap %s: %w", m.Addr, err)
	}
	loggedOut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { logout(c); close(loggedOut) })
	defer func() {
		if stop() {
			logout(c)
		} else {
			<-loggedOut
		}
	}()
	if err := c.Login(m.Username, m.Password).Wait(); err != nil {
		return m.fail(ctx, err)
	}
	folder := m.Mailbox
	if folder == "" {
		folder = "INBOX"
	}
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return m.fail(ctx, err)
	}
	return fn(ctx, c)
}

// fail returns the end of ctx, if it ended, else err about the server.
func (m *IMAP) fail(ctx context.Context, err error) (*Reply, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("smmail: imap %s: %w", m.Addr, err)
}

// poll looks for new messages every Poll until one matches.
func (m *IMAP) poll(ctx context.Context, c *imapclient.Client, match func(*Reply) bool) (*Reply, error) {
	poll := m.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	seen := map[imap.UID]bool{}
	section := &imap.FetchItemBodySection{Peek: true}
	for {
		sd, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return m.fail(ctx, err)
		}
		var fresh []imap.UID
		for _, uid := range sd.AllUIDs() {
			if !seen[uid] {
				fresh = append(fresh, uid)
			}
		}
		slices.Sort(fresh)
		if len(fresh) > 0 {
			msgs, err := c.Fetch(imap.UIDSetNum(fresh...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
			if err != nil {
				return m.fail(ctx, err)
			}
			slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
			for _, msg := range msgs {
				seen[msg.UID] = true
				r, err := ParseReply(msg.FindBodySection(section))
				if err != nil {
					continue
				}
				if match(r) {
					return r, nil
				}
			}
		}
		select {
		case <-time.After(poll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

var _ Mailbox = (*IMAP)(nil)
var _ Mailbox = (*Listener)(nil)
