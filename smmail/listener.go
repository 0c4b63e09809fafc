package smmail

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stskms/stskms/internal/netguard"
)

// Mailbox is where replies arrive: a local SMTP listener (Listener), or
// another store of the operator's mail.
type Mailbox interface {
	// Wait calls match on each reply to rcpt, oldest first, each once,
	// and returns the first for which it returns true, waiting for more
	// until ctx ends. Messages that are not gateway replies are skipped.
	Wait(ctx context.Context, rcpt string, match func(*Reply) bool) (*Reply, error)
	Close() error
}

// Listener is a Mailbox that is an SMTP server: the gateway's relay (or an
// MTA) delivers replies to it. It keeps every message in memory, by
// recipient.
type Listener struct {
	mu      sync.Mutex
	msgs    map[string][][]byte // by lower-case recipient
	changed chan struct{}       // closed and replaced on every delivery
	addr    string
	srv     *smtp.Server
}

// Listen starts a Listener on addr (host:port; port 0 picks one).
func Listen(addr string) (*Listener, error) {
	mb := &Listener{msgs: map[string][][]byte{}, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{mb: mb}, nil }))
	srv.Domain = "smmail.localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = nopLogger{}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l = netguard.Wrap(l, netguard.Options{}) // capped; kept accepting through exhaustion
	mb.addr, mb.srv = l.Addr().String(), srv
	go srv.Serve(l) //nolint:errcheck // ends with Close
	return mb, nil
}

// Addr returns the listener's host:port.
func (mb *Listener) Addr() string { return mb.addr }

// Close stops the server.
func (mb *Listener) Close() error {
	err := mb.srv.Close()
	if err != nil && strings.Contains(err.Error(), "closed") {
		return nil
	}
	return err
}

func (mb *Listener) deliver(to []string, data []byte) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for _, rcpt := range to {
		k := strings.ToLower(rcpt)
		mb.msgs[k] = append(mb.msgs[k], data)
	}
	close(mb.changed)
	mb.changed = make(chan struct{})
}

// Wait implements Mailbox.
func (mb *Listener) Wait(ctx context.Context, rcpt string, match func(*Reply) bool) (*Reply, error) {
	seen := 0
	for {
		mb.mu.Lock()
		msgs, changed := mb.msgs[strings.ToLower(rcpt)], mb.changed
		mb.mu.Unlock()
		for ; seen < len(msgs); seen++ {
			r, err := ParseReply(msgs[seen])
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
			return nil, ctx.Err()
		}
	}
}

type session struct {
	mb *Listener
	to []string
}

func (s *session) Reset()                               { s.to = nil }
func (s *session) Logout() error                        { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
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
