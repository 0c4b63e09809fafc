package loop_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/smmail"
)

// relayMsg is one message the sink relay took: the gateway's reply.
type relayMsg struct {
	raw       []byte
	messageID string // the reply's own
	inReplyTo string // the request's Message-ID
	reply     *smmail.Reply
}

// relaySink is a real SMTP server standing for the gateway's relay: it
// keeps every message it is given.
type relaySink struct {
	addr string

	mu      sync.Mutex
	msgs    []relayMsg
	changed chan struct{}
}

func newRelaySink(t testing.TB) *relaySink {
	t.Helper()
	s := &relaySink{changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "relay.test"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.ErrorLog = silent{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return s
}

// all returns the messages so far and a channel closed by the next one.
func (s *relaySink) all() ([]relayMsg, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]relayMsg(nil), s.msgs...), s.changed
}

// wait returns the first message for which match is true, failing t if
// none comes before ctx ends.
func (s *relaySink) wait(ctx context.Context, t testing.TB, match func(relayMsg) bool) relayMsg {
	t.Helper()
	for {
		msgs, changed := s.all()
		for _, m := range msgs {
			if match(m) {
				return m
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no such reply at the relay: %v (%d messages there)", ctx.Err(), len(msgs))
		}
	}
}

type sinkSession struct{ s *relaySink }

func (ss *sinkSession) Reset()                               {}
func (ss *sinkSession) Logout() error                        { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := relayMsg{raw: raw}
	if h, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.messageID = strings.TrimSpace(h.Header.Get("Message-ID"))
		m.inReplyTo = strings.TrimSpace(h.Header.Get("In-Reply-To"))
	}
	m.reply, _ = smmail.ParseReply(raw)
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

type silent struct{}

func (silent) Printf(string, ...any) {}
func (silent) Println(...any)        {}
