package loop

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	netsmtp "net/smtp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gateway"
)

// mailbox is the SM operators' mail: a real SMTP server on 127.0.0.1 that
// plays the gateway's outbound relay and keeps every message it is given,
// by recipient, in memory.
type mailbox struct {
	mu      sync.Mutex
	msgs    map[string][][]byte // by lower-case recipient
	changed chan struct{}       // closed and replaced on every delivery
	addr    string
	srv     *smtp.Server
}

// newMailbox starts the mailbox's SMTP server on 127.0.0.1:0.
func newMailbox() (*mailbox, error) {
	mb := &mailbox{msgs: map[string][][]byte{}, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{mb: mb}, nil }))
	srv.Domain = "mail.utility.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = nopLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mb.addr, mb.srv = l.Addr().String(), srv
	go srv.Serve(l) //nolint:errcheck // ends with Close
	return mb, nil
}

func (mb *mailbox) Close() error { return mb.srv.Close() }

func (mb *mailbox) deliver(to []string, data []byte) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for _, rcpt := range to {
		k := strings.ToLower(rcpt)
		mb.msgs[k] = append(mb.msgs[k], data)
	}
	close(mb.changed)
	mb.changed = make(chan struct{})
}

// wait returns the first message to rcpt for which match returns true,
// waiting for one until ctx ends.
func (mb *mailbox) wait(ctx context.Context, rcpt string, match func(*reply) bool) (*reply, error) {
	for {
		mb.mu.Lock()
		msgs, changed := mb.msgs[strings.ToLower(rcpt)], mb.changed
		mb.mu.Unlock()
		for _, m := range msgs {
			r, err := parseReply(m)
			if err != nil {
				continue
			}
			if match(r) {
				return r, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("no reply for %s: %w", rcpt, ctx.Err())
		}
	}
}

type mailboxSession struct {
	mb *mailbox
	to []string
}

func (s *mailboxSession) Reset()                               { s.to = nil }
func (s *mailboxSession) Logout() error                        { return nil }
func (s *mailboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.deliver(s.to, b)
	return nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// reply is a gateway reply as the mail client reads it.
type reply struct {
	subject string
	result  gateway.Result
	final   bool
	text    string
	files   []attachment
}

type attachment struct {
	name string
	data []byte
}

// parseReply reads a reply: its Subject, X-Gateway-Result, text body and
// attachments.
func parseReply(raw []byte) (*reply, error) {
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer mr.Close()
	r := &reply{}
	if r.subject, err = mr.Header.Subject(); err != nil {
		return nil, err
	}
	if v := mr.Header.Get("X-Gateway-Result"); v != "" {
		if r.result, err = gateway.ParseResult(v); err != nil {
			return nil, err
		}
		r.final = r.result.Final()
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			return nil, err
		}
		switch h := p.Header.(type) {
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			r.files = append(r.files, attachment{name: name, data: b})
		default:
			r.text += string(b)
		}
	}
	return r, nil
}

// client is the integrator's mail client: it submits requests to the
// gateway over SMTP and reads the replies from the operator's mailbox.
type client struct {
	submit  string // the gateway's SMTP host:port
	gateway string // the gateway's address
	from    string // the operator's address, registered at the KMC
	box     *mailbox
}

// newTag returns a unique subject tag (seed §8.3.1: match replies by the
// Subject's tail).
func newTag() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "loop-" + hex.EncodeToString(b)
}

// request sends one request mail with the service code and a unique tag,
// and waits for the final reply carrying the tag (notices are skipped).
func (c *client) request(ctx context.Context, service, body string) (*reply, error) {
	tag := newTag()
	subject := service + " " + tag
	msg := "From: <" + c.from + ">\r\n" +
		"To: <" + c.gateway + ">\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + tag + "@utility.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"Content-Transfer-Encoding: 7bit\r\n" +
		"\r\n" + body
	if err := netsmtp.SendMail(c.submit, nil, c.from, []string{c.gateway}, []byte(msg)); err != nil {
		return nil, fmt.Errorf("submit %s: %w", service, err)
	}
	r, err := c.box.wait(ctx, c.from, func(r *reply) bool {
		return r.final && strings.HasSuffix(strings.TrimSpace(r.subject), " "+tag)
	})
	if err != nil {
		return nil, err
	}
	if r.result.Kind != gateway.Success {
		return r, fmt.Errorf("%s: %s", service, r.result)
	}
	return r, nil
}
