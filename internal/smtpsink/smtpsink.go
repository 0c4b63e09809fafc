// Package smtpsink is a real SMTP server on loopback for tests, standing
// for a relay: it keeps every message it is given, with its envelope, and
// wakes whoever waits for the next one. A test may refuse or hold a
// message (accept), or serve its own sessions built on Session.
package smtpsink

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// Message is one message the sink was given.
type Message struct {
	Host   string           // the client's EHLO name
	From   string           // the envelope sender
	To     []string         // the envelope recipients
	Notify []smtp.DSNNotify // the DSN NOTIFY of the last recipient
	Data   []byte           // the message
}

// Sink is an SMTP server on 127.0.0.1 that keeps the messages it is given.
// It is safe for concurrent use.
type Sink struct {
	// Addr is where it listens (host:port).
	Addr string

	accept  func(Message) error
	mu      sync.Mutex
	msgs    []Message
	changed chan struct{} // closed and replaced at every message kept
}

// New starts a sink, stopped when t ends. accept, if not nil, is called
// with each message before the sink keeps it, without the sink's lock (it
// may block); an error refuses the message (its *smtp.SMTPError is the
// answer), which is not kept. setup, if given, adjusts the server before
// it starts (its Backend may serve sessions built on s.Session).
func New(t testing.TB, accept func(Message) error, setup ...func(srv *smtp.Server, s *Sink)) *Sink {
	t.Helper()
	s := &Sink{accept: accept, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return s.Session(c), nil }))
	srv.Domain = "relay.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = silent{}
	for _, f := range setup {
		f(srv, s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return s
}

// Messages returns the messages kept so far, in order, and a channel
// closed when the next one is kept.
func (s *Sink) Messages() ([]Message, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...), s.changed
}

// Reset forgets the messages kept so far.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
}

// keep keeps m, unless accept refuses it.
func (s *Sink) keep(m Message) error {
	if s.accept != nil {
		if err := s.accept(m); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// Session is one SMTP session of the sink with the client c: it gives the
// sink each message of the session. A test's own session type may embed
// it to add, say, AUTH.
func (s *Sink) Session(c *smtp.Conn) *Session {
	return &Session{sink: s, conn: c}
}

// Session is an smtp.Session that gives its messages to a Sink.
type Session struct {
	sink *Sink
	conn *smtp.Conn
	m    Message
}

// Reset forgets the envelope so far.
func (ss *Session) Reset() { ss.m = Message{} }

// Logout does nothing.
func (ss *Session) Logout() error { return nil }

// Mail takes the envelope sender.
func (ss *Session) Mail(from string, _ *smtp.MailOptions) error {
	ss.m.From = from
	return nil
}

// Rcpt takes a recipient and its DSN NOTIFY.
func (ss *Session) Rcpt(to string, o *smtp.RcptOptions) error {
	ss.m.To = append(ss.m.To, to)
	if o != nil {
		ss.m.Notify = o.Notify
	}
	return nil
}

// Data gives the message to the sink.
func (ss *Session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := ss.m
	m.Data = b
	if ss.conn != nil {
		m.Host = ss.conn.Hostname()
	}
	return ss.sink.keep(m)
}

// silent drops the server's log lines.
type silent struct{}

func (silent) Printf(string, ...any) {}
func (silent) Println(...any)        {}
