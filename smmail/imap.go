package smmail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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
	// used, except on loopback, where a plain connection is allowed.
	ImplicitTLS bool
	// TLSConfig (default: ServerName from Addr).
	TLSConfig *tls.Config
	// Poll is the interval between looks for new mail (default 2 s).
	Poll time.Duration
}

func (m *IMAP) dial() (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: m.TLSConfig}
	switch {
	case m.ImplicitTLS:
		return imapclient.DialTLS(m.Addr, opts)
	case isLoopback(m.Addr) && m.TLSConfig == nil:
		return imapclient.DialInsecure(m.Addr, opts)
	default:
		return imapclient.DialStartTLS(m.Addr, opts)
	}
}

// Close implements Mailbox; each Wait has its own connection.
func (m *IMAP) Close() error { return nil }

// Wait implements Mailbox. rcpt is not checked: the mailbox is the
// operator's.
func (m *IMAP) Wait(ctx context.Context, rcpt string, match func(*Reply) bool) (*Reply, error) {
	if m.Addr == "" {
		return nil, errors.New("smmail: no IMAP server address")
	}
	c, err := m.dial()
	if err != nil {
		return nil, fmt.Errorf("smmail: imap %s: %w", m.Addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	fail := func(err error) (*Reply, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("smmail: imap %s: %w", m.Addr, err)
	}
	if err := c.Login(m.Username, m.Password).Wait(); err != nil {
		return fail(err)
	}
	folder := m.Mailbox
	if folder == "" {
		folder = "INBOX"
	}
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return fail(err)
	}
	poll := m.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	seen := map[imap.UID]bool{}
	section := &imap.FetchItemBodySection{Peek: true}
	for {
		sd, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return fail(err)
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
				return fail(err)
			}
			slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
			for _, msg := range msgs {
				seen[msg.UID] = true
				r, err := ParseReply(msg.FindBodySection(section))
				if err != nil {
					continue
				}
				if match(r) {
					_ = c.Logout().Wait()
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
